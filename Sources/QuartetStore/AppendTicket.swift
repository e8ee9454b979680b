import Synchronization

/// The entries of one `LogWriter.enqueue(contentsOf:)` call, queued in order: `receipts()`
/// answers once they are all durable, or with the error of the transaction that failed them.
public final class AppendTicket: Sendable {
    /// The ticket's place among the writer's tickets (1, 2, ...; 0 for an empty enqueue).
    let number: UInt64
    private let state: Mutex<State>

    private struct State {
        var receipts: [AppendReceipt?]
        var remaining: Int
        var outcome: Result<[AppendReceipt], any Error>?
        var waiters: [UnsafeContinuation<[AppendReceipt], any Error>] = []
    }

    init(number: UInt64, count: Int) {
        self.number = number
        state = Mutex(State(receipts: Array(repeating: nil, count: count), remaining: count, outcome: count == 0 ? .success([]) : nil))
    }

    /// The receipts, in the order the requests were enqueued, once every entry is durable. Throws
    /// the error of the transaction that failed them (then none of them is stored). May be
    /// called more than once, from any task.
    public func receipts() async throws -> [AppendReceipt] {
        if let outcome = state.withLock({ $0.outcome }) { return try outcome.get() }
        return try await withUnsafeThrowingContinuation { continuation in
            let outcome = state.withLock { state -> Result<[AppendReceipt], any Error>? in
                if let outcome = state.outcome { return outcome }
                state.waiters.append(continuation)
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }

    /// Records the outcome of the entry at `position`; the first failure fails the ticket.
    func set(_ position: Int, _ result: Result<AppendReceipt, any Error>) {
        let (waiters, outcome) = state.withLock { state -> ([UnsafeContinuation<[AppendReceipt], any Error>], Result<[AppendReceipt], any Error>?) in
            guard state.outcome == nil else { return ([], nil) }
            switch result {
            case .success(let receipt):
                state.receipts[position] = receipt
                state.remaining -= 1
                guard state.remaining == 0 else { return ([], nil) }
                state.outcome = .success(state.receipts.map { $0! })
                state.receipts = []
            case .failure(let error):
                state.outcome = .failure(error)
            }
            defer { state.waiters = [] }
            return (state.waiters, state.outcome)
        }
        if let outcome { for waiter in waiters { waiter.resume(with: outcome) } }
    }
}

import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOPosix

/// Where a reader's request that costs in proportion to the data runs: off the event loops
/// (which also carry the members' replication, witness requests and TLS handshakes, and every
/// other connection's reads), on NIO's blocking pool (one thread a core), with a bound on how
/// many one credential and everyone together may have admitted at once. Pages and proofs of
/// a figure with 1,000 entries, CSV downloads, entry pages of 4 MiB, the whole view: a reader
/// looping on them makes the pool's queue longer, never a member's frame wait.
///
/// Past the bounds a request is refused at once (429 for the credential, 503 for the node,
/// both with `Retry-After`), and nothing of it is kept.
final class ReadWork: Sendable {
    struct Limits: Sendable {
        /// Requests one credential may have admitted (running or waiting) at once.
        var perCaller = 64
        /// Of those, how many may be on the pool at once; the rest wait their turn, so the
        /// pool's queue holds at most this many of any one credential and every credential's
        /// requests take turns with the others'.
        var runningPerCaller = 2
        /// Requests admitted at once in all (operators and member nodes are admitted past it:
        /// readers filling it do not lock the node's own people out).
        var total = 256
        /// Once half of `total` is admitted, what one credential may hold at once: four
        /// credentials at `perCaller` would otherwise fill the node and refuse every other
        /// reader; past half, the rest is shared out this many at a time.
        var busyPerCaller = 16
    }

    /// The admission counts and turns, pure (tested without threads).
    struct Counts: Sendable {
        var limits: Limits
        private(set) var admitted = 0
        private(set) var byCaller: [String: Int] = [:]
        private(set) var running: [String: Int] = [:]
        /// Per credential, the requests waiting for a turn on the pool, oldest first.
        private(set) var waiting: [String: [UInt64]] = [:]

        init(limits: Limits) { self.limits = limits }

        enum Refusal: Equatable { case caller, node }

        /// Admits one request of `caller`, or says which bound it met.
        mutating func admit(_ caller: String, privileged: Bool = false) -> Refusal? {
            let held = byCaller[caller, default: 0]
            if held >= limits.perCaller { return .caller }
            if admitted >= limits.total / 2 && held >= limits.busyPerCaller && !privileged { return .caller }
            if admitted >= limits.total && !privileged { return .node }
            admitted += 1
            byCaller[caller, default: 0] += 1
            return nil
        }

        /// Whether admitted request `id` of `caller` may go to the pool now; if not it waits
        /// (`finish` hands it a turn).
        mutating func start(_ caller: String, id: UInt64) -> Bool {
            if running[caller, default: 0] < limits.runningPerCaller {
                running[caller, default: 0] += 1
                return true
            }
            waiting[caller, default: []].append(id)
            return false
        }

        /// A request of `caller` left the pool: the waiting request that takes its turn, if any.
        mutating func finish(_ caller: String) -> UInt64? {
            release(caller)
            if var queue = waiting[caller], !queue.isEmpty {
                let next = queue.removeFirst()
                waiting[caller] = queue.isEmpty ? nil : queue
                return next
            }
            let left = running[caller, default: 1] - 1
            running[caller] = left > 0 ? left : nil
            return nil
        }

        /// One admitted request of `caller` ended.
        mutating func release(_ caller: String) {
            guard let held = byCaller[caller], held > 0 else { return }
            admitted -= 1
            byCaller[caller] = held == 1 ? nil : held - 1
        }
    }

    private struct State: Sendable {
        var counts: Counts
        var nextID: UInt64 = 0
        var turns: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state: NIOLockedValueBox<State>
    private let pool: NIOThreadPool

    init(limits: Limits = Limits(), pool: NIOThreadPool = .singleton) {
        state = NIOLockedValueBox(State(counts: Counts(limits: limits)))
        self.pool = pool
    }

    /// Runs `body` on the pool for `caller` (a credential: `Caller.author` names the token or
    /// the certificate serial), in its turn with the credential's other requests, or refuses
    /// the request if `caller` or the node is at its bound. `privileged` (an operator, a member
    /// node) is not refused for the node's bound.
    func run<T: Sendable>(_ caller: Caller, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await run(caller.author, privileged: caller.isNodeOrOperator, stillAdmitted: caller.stillAdmitted, body)
    }

    /// `run` for the credential `caller` (its author), judged again at its turn by
    /// `stillAdmitted` when given.
    func run<T: Sendable>(_ caller: String, privileged: Bool = false, stillAdmitted: (@Sendable () -> Bool)? = nil,
                          _ body: @escaping @Sendable () throws -> T) async throws -> T {
        switch state.withLockedValue({ $0.counts.admit(caller, privileged: privileged) }) {
        case .caller?:
            throw HTTPError(.tooManyRequests, headers: [.retryAfter: "1"],
                            message: "this credential has \(state.withLockedValue { $0.counts.limits.perCaller }) expensive requests (pages, proofs, CSV, entries) running or waiting already; retry when one has ended")
        case .node?:
            throw HTTPError(.serviceUnavailable, headers: [.retryAfter: "1"],
                            message: "this node has as many expensive requests running as it takes; retry shortly")
        case nil:
            break
        }
        await withCheckedContinuation { (turn: CheckedContinuation<Void, Never>) in
            let now = state.withLockedValue { s -> Bool in
                let id = s.nextID
                s.nextID &+= 1
                if s.counts.start(caller, id: id) { return true }
                s.turns[id] = turn
                return false
            }
            if now { turn.resume() }
        }
        defer {
            let next = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
                s.counts.finish(caller).flatMap { s.turns.removeValue(forKey: $0) }
            }
            next?.resume()
        }
        // The credential is judged again when its turn comes: a request that waited behind its
        // credential's others is not answered for a token, sign-in or member a reload took away
        // meanwhile (finding 282).
        if let stillAdmitted, !stillAdmitted() {
            throw HTTPError(.unauthorized, message: "the credential this request came with was withdrawn while it waited for its turn (a reload removed the token, the sign-in or the member)")
        }
        return try await pool.runIfActive(body)
    }

    /// How many of `caller`'s requests run and wait for their turn now (for tests and status).
    func load(_ caller: String) -> (running: Int, waiting: Int) {
        state.withLockedValue { ($0.counts.running[caller, default: 0], $0.counts.waiting[caller]?.count ?? 0) }
    }
}


extension Caller {
    /// A member node or a log's operator: admitted to `ReadWork` past the node's bound.
    var isNodeOrOperator: Bool {
        switch identity {
        case .node, .operator: return true
        default: return false
        }
    }
}

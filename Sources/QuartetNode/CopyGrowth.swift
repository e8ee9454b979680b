import Synchronization

/// The growth of this node's copies of the witnessed logs, for the witness requests waiting on
/// it (`WitnessService.addCheckpointQueued`): each waits for its log's copy to hold the size it
/// asks a cosignature of, woken only once a stored batch reaches it (not by every batch: a
/// catch-up stores hundreds a second), or at its deadline. At most `maxWaitersPerLog` wait for one
/// log (a member sending checkpoints beyond what it pushes fills its own log's places, not the
/// others'), `maxWaiters` in all.
final class CopyGrowth: Sendable {
    private struct Waiter {
        let log: String
        let size: UInt64
        let continuation: CheckedContinuation<Bool, Never>
        /// Its deadline's sleep, ended when it is woken sooner.
        var timeout: Task<Void, Never>?
    }
    private struct State {
        var waiters: [UInt64: Waiter] = [:]
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    static let maxWaitersPerLog = 8
    static let maxWaiters = 64

    /// The copy of `log` holds `size` entries: its waiters for at most that go on.
    func grew(_ log: String, to size: UInt64) {
        let woken = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            guard !s.waiters.isEmpty else { return [] }
            let ids = s.waiters.filter { $0.value.log == log && $0.value.size <= size }.map(\.key)
            return ids.compactMap { id in
                let waiter = s.waiters.removeValue(forKey: id)
                waiter?.timeout?.cancel()
                return waiter?.continuation
            }
        }
        for continuation in woken { continuation.resume(returning: true) }
    }

    /// Waits until the copy of `log` holds `size` entries (true; at once if `current`, read
    /// once registered, says it already does) or until `deadline` (false); false at once while
    /// the log's or all the places are taken.
    func wait(_ log: String, holds size: UInt64, current: @Sendable () -> UInt64?, until deadline: ContinuousClock.Instant) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let id: UInt64? = state.withLock { s in
                guard s.waiters.count < Self.maxWaiters, s.waiters.values.filter({ $0.log == log }).count < Self.maxWaitersPerLog else { return nil }
                s.next &+= 1
                s.waiters[s.next] = Waiter(log: log, size: size, continuation: continuation)
                return s.next
            }
            guard let id else { return continuation.resume(returning: false) }
            // Read once the waiter is in place: a batch stored between the decision and here
            // finds it, or is found by this read.
            if let held = current(), held >= size {
                state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: true)
                return
            }
            let timeout = Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                self.state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: false)
            }
            // (Woken meanwhile: the waiter is gone, and its sleep is ended here.)
            state.withLock { s in
                if s.waiters[id] != nil { s.waiters[id]?.timeout = timeout } else { timeout.cancel() }
            }
        }
    }

    /// Requests waiting now.
    var waiting: Int { state.withLock { $0.waiters.count } }
}

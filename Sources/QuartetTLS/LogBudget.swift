import Synchronization

/// How many lines of one kind a process writes per period: lines anyone can cause (a refused
/// handshake, a refused request) cannot fill the disk or bury the rest of the log. Past the
/// budget lines are dropped and counted; the next line written says how many were.
public final class LogBudget: Sendable {
    private let lines: Int
    private let period: Duration
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let state: Mutex<(start: ContinuousClock.Instant, written: Int, dropped: Int)>
    private let taken = Atomic<Int>(0)

    /// Every line asked for so far, written or dropped (what the metrics count).
    public var total: Int { taken.load(ordering: .relaxed) }

    public init(lines: Int, per period: Duration, clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.lines = lines
        self.period = period
        self.clock = clock
        state = Mutex((clock(), 0, 0))
    }

    /// Whether a line may be written now, and if so how many were dropped before it (to say).
    public func take() -> (write: Bool, dropped: Int) {
        taken.add(1, ordering: .relaxed)
        let now = clock()
        return state.withLock { state in
            if now - state.start >= period { state = (now, 0, state.dropped) }
            guard state.written < lines else {
                state.dropped += 1
                return (false, 0)
            }
            state.written += 1
            defer { state.dropped = 0 }
            return (true, state.dropped)
        }
    }
}

import QuartetStore
import Synchronization

/// When a node is ready for traffic (`GET /readyz`), beside alive (`/healthz`): its data
/// directory answers, it is connected to at least one other member (a node alone serves only
/// what it had), and no log it holds is more than `maxBehindEntries` behind the largest
/// checkpoint it has seen signed for that log, its own log takes appends, and most of the other
/// members do not run a newer federation file (`ReplicationEngine.federationProblems`), and
/// its writes to the data directory succeed (`WriteHealth`). `evaluate` is pure: the route passes what it
/// reads, at most once a second (`Cache`): the route needs no credentials, and its reads wait
/// on the replication engine's queue.
enum Readiness {
    /// The last reasons, reused for a second.
    final class Cache: Sendable {
        static let interval = Duration.seconds(1)
        private let last = RefreshedValue<[String]>(interval: Cache.interval, stuckAfter: .seconds(5))

        func reasons(_ evaluate: () async -> [String]) async -> [String] {
            await last.get(stuck: { ["the readiness check has been running for more than 5 s: the data directory or the replication engine does not answer"] }, evaluate)
        }
    }

    /// A log further behind than this is not ready (catch-up runs at ~100,000 entries/s, so a
    /// healthy node crosses it in well under a second).
    static let maxBehindEntries: UInt64 = 10_000

    /// Why the node is not ready (empty: it is). Reasons name logs and peers, never sizes.
    /// - Parameter ownLogHeld: the node's own log when it takes no appends yet (`OwnLogGate`).
    static func evaluate(storeAnswers: Bool, peers: [(id: String, connected: Bool)], logs: [(name: String, held: UInt64, seen: UInt64)],
                         ownLogHeld: String? = nil, federation: [String] = [], writesFailing: Set<WriteHealth.Path> = []) -> [String] {
        var reasons: [String] = []
        if !storeAnswers { reasons.append("the data directory does not answer") }
        // Which writes, never their errors (this route needs no credentials): the node's log
        // and `quartet_store_write_failing` on /metrics say why.
        if !writesFailing.isEmpty {
            reasons.append("the data directory cannot be written (\(writesFailing.sorted().map(\.described).joined(separator: ", ")) fail): a full disk or a read-only mount? the node's log says why")
        }
        if let ownLogHeld {
            reasons.append("own log \(ownLogHeld) takes no appends: not enough of its witnesses have confirmed how much of it they hold yet, or this copy conflicts with what they hold, or another process signs it (an append's 503 says which)")
        }
        if !peers.isEmpty && !peers.contains(where: \.connected) { reasons.append("connected to no other member") }
        for log in logs.sorted(by: { $0.name < $1.name }) where log.seen > log.held && log.seen - log.held > maxBehindEntries {
            reasons.append("log \(log.name) is behind by more than \(maxBehindEntries) entries")
        }
        // A newer federation file a quorum signed, run by peers (`PeerFederation`).
        reasons += federation
        return reasons
    }
}

/// What `RefreshedValue.get` found: a value to answer, a refresh stuck, or nothing (refresh).
private enum Known<Value> { case value(Value), stuck, none }

/// A value read at most once per `interval`, by one caller at a time: while one caller
/// refreshes it, the others are answered the value before (a stranger timing requests to the
/// moment it expires gets one refresh, not one per request, each waiting on the queues it
/// reads). Only the very first read, with nothing to answer yet, may run more than once. A
/// refresh still running `stuckAfter` past the value's time answers the others `stuck` instead
/// (a probe must not say "ok" for ever from before the store hung).
final class RefreshedValue<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var at: ContinuousClock.Instant?
        var refreshing = false
    }
    private let state = Mutex(State())
    let interval: Duration
    let stuckAfter: Duration

    init(interval: Duration, stuckAfter: Duration = .seconds(5)) {
        self.interval = interval
        self.stuckAfter = stuckAfter
    }

    func get(now: ContinuousClock.Instant = .now, stuck: (() -> Value)? = nil, _ read: () -> Value) -> Value {
        if let answer = answer(now: now, stuck: stuck) { return answer }
        return keep(read(), now: now)
    }

    /// `get`, with a read that awaits (it holds no thread while it waits).
    func get(now: ContinuousClock.Instant = .now, stuck: (() -> Value)? = nil, _ read: () async -> Value) async -> Value {
        if let answer = answer(now: now, stuck: stuck) { return answer }
        return keep(await read(), now: now)
    }

    /// The value to answer, or nil: this caller refreshes.
    private func answer(now: ContinuousClock.Instant, stuck: (() -> Value)?) -> Value? {
        let known: Known<Value> = state.withLock { s in
            if let value = s.value, let at = s.at, at.duration(to: now) < interval { return .value(value) }
            if s.refreshing, let value = s.value, let at = s.at {
                return stuck != nil && at.duration(to: now) >= stuckAfter ? .stuck : .value(value)
            }
            s.refreshing = true
            return .none
        }
        switch known {
        case .value(let value): return value
        case .stuck: return stuck!()
        case .none: return nil
        }
    }

    private func keep(_ value: Value, now: ContinuousClock.Instant) -> Value {
        state.withLock { s in
            s.value = value
            s.at = now
            s.refreshing = false
        }
        return value
    }
}

import Synchronization

/// Whether the node's writes to its data directory succeed, per path that writes: set by each
/// failure (a full disk, an IO error, a directory remounted read-only) and cleared by that path's
/// next success — or, with no write of that path since, once its last failure is `staleMillis`
/// old (nothing retries an operator's append: a node taken out by `/readyz` after a full disk
/// got no append to clear it once space was freed). Reads keep working on such a node, so without it `/readyz` said "ready" and
/// nothing counted the failures while every append, witness answer and replica batch failed.
/// Read by `/readyz` (which paths fail, never the errors: it needs no credentials) and `/metrics`.
public final class WriteHealth: Sendable {
    /// A path that writes to the data directory.
    public enum Path: String, CaseIterable, Sendable, Comparable {
        /// The own log's group commit.
        case ownLog = "own-log"
        /// A received batch of another log.
        case replica
        /// The own log's tail and stub payloads taken from peers (synced writes: a replica
        /// batch, written without a sync, succeeding says nothing of them).
        case ownTail = "own-tail"
        /// The witness's state (what it cosigned), before it answers.
        case witness
        /// The disclosure and purge journal (its flush into the own log is an own-log commit).
        case journal
        /// A purge of payloads held under an agreement that ended.
        case purge
        /// Equivocation evidence (a log's quarantine across a restart).
        case evidence

        public static func < (a: Path, b: Path) -> Bool { a.rawValue < b.rawValue }

        /// What the path writes, as `/readyz` names it.
        public var described: String {
            switch self {
            case .ownLog: "own log appends"
            case .replica: "replica batches"
            case .ownTail: "the own log's tail and stub payloads taken from peers"
            case .witness: "the witness's state"
            case .journal: "the disclosure journal"
            case .purge: "purges of ended agreements"
            case .evidence: "equivocation evidence"
            }
        }
    }

    /// A path whose last write failed.
    public struct Failing: Sendable, Equatable {
        /// POSIX milliseconds of the first failure since the last success.
        public var since: UInt64
        /// POSIX milliseconds of the latest failure.
        public var last: UInt64
        /// The last failure's error, as logged (bounded).
        public var error: String
    }

    private struct State {
        var failing: [Path: Failing] = [:]
        var failures: [Path: UInt64] = [:]
    }
    private let state = Mutex(State())
    /// Whether any path is failing: the hot paths' successes read only this.
    private let anyFailing = Atomic<Bool>(false)

    public init() {}

    /// `path`'s write failed with `error` at `nowMillis`.
    public func failed(_ path: Path, _ error: any Error, nowMillis: UInt64) {
        failed(path, described: String(describing: error), nowMillis: nowMillis)
    }

    /// `path`'s write failed, as `described`, at `nowMillis`.
    public func failed(_ path: Path, described: String, nowMillis: UInt64) {
        let text = String(described.prefix(500))
        state.withLock { state in
            state.failures[path, default: 0] &+= 1
            state.failing[path] = Failing(since: state.failing[path]?.since ?? nowMillis, last: nowMillis, error: text)
            anyFailing.store(true, ordering: .releasing)
        }
    }

    /// `path`'s write succeeded: it no longer fails.
    public func succeeded(_ path: Path) {
        guard anyFailing.load(ordering: .acquiring) else { return }
        state.withLock { state in
            state.failing[path] = nil
            if state.failing.isEmpty { anyFailing.store(false, ordering: .releasing) }
        }
    }

    /// A failure with no write of its path since counts this long (2 minutes).
    public static let staleMillis: UInt64 = 120_000

    /// The paths failing at `nowMillis`: failed, with no success since, the last failure within
    /// `staleMillis`.
    public func failing(nowMillis: UInt64) -> [Path: Failing] {
        state.withLock { $0.failing }.filter { nowMillis < $0.value.last || nowMillis - $0.value.last < Self.staleMillis }
    }

    /// Failures per path since the node started.
    public var failures: [Path: UInt64] { state.withLock { $0.failures } }
}

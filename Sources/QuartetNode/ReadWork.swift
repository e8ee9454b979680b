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
        /// Requests one credential may have admitted (running or queued) at once.
        var perCaller = 64
        /// Requests admitted at once in all.
        var total = 256
    }

    /// The admission counts, pure (tested without threads).
    struct Counts: Sendable {
        var limits: Limits
        private(set) var admitted = 0
        private(set) var byCaller: [String: Int] = [:]

        init(limits: Limits) { self.limits = limits }

        enum Refusal: Equatable { case caller, node }

        /// Admits one request of `caller`, or says which bound it met.
        mutating func admit(_ caller: String) -> Refusal? {
            if byCaller[caller, default: 0] >= limits.perCaller { return .caller }
            if admitted >= limits.total { return .node }
            admitted += 1
            byCaller[caller, default: 0] += 1
            return nil
        }

        /// One admitted request of `caller` ended.
        mutating func release(_ caller: String) {
            guard let held = byCaller[caller], held > 0 else { return }
            admitted -= 1
            byCaller[caller] = held == 1 ? nil : held - 1
        }
    }

    private let counts: NIOLockedValueBox<Counts>
    private let pool: NIOThreadPool

    init(limits: Limits = Limits(), pool: NIOThreadPool = .singleton) {
        counts = NIOLockedValueBox(Counts(limits: limits))
        self.pool = pool
    }

    /// Runs `body` on the pool for `caller` (a credential: `Caller.author` names the token or
    /// the certificate serial), or refuses the request if `caller` or the node is at its bound.
    func run<T: Sendable>(_ caller: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        switch counts.withLockedValue({ $0.admit(caller) }) {
        case .caller?:
            throw HTTPError(.tooManyRequests, headers: [.retryAfter: "1"],
                            message: "this credential has \(counts.withLockedValue { $0.limits.perCaller }) expensive requests (pages, proofs, CSV, entries) running already; retry when one has ended")
        case .node?:
            throw HTTPError(.serviceUnavailable, headers: [.retryAfter: "1"],
                            message: "this node has as many expensive requests running as it takes; retry shortly")
        case nil:
            break
        }
        defer { counts.withLockedValue { $0.release(caller) } }
        return try await pool.runIfActive(body)
    }
}

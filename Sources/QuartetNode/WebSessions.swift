import Foundation
import Synchronization

/// The browser sign-ins of this node (docs/web.md, "Signing in").
///
/// Signing in with a token gives the browser a session id, not the token: a cookie belongs to a
/// host, not a port, so it goes to every service on that host (the other nodes of a test
/// federation, anything else listening there), and a token in it would be handed to each. A
/// session id is 256 random bits that only this process knows; it names the token's grant
/// (by its SHA-256) and ends at `lifetime`, after `idle` unused (a browser left signed in on a
/// shared machine), at sign-out, when a reload removes the token from
/// the configuration (`retain`; the grant is also looked up again at every request) or when
/// the process ends. The id still goes to every port of the host for its 8 hours: one host
/// name per node keeps it to that node (docs/web.md).
/// At most `limit` sessions are kept, `perToken` of one token: a flood of sign-ins drops the
/// least lately used first (ended ones before them), its own before anyone else's.
final class WebSessions: Sendable {
    struct Session: Sendable {
        /// The SHA-256 of the token signed in with (a grant's `sha256`).
        let digest: [UInt8]
        let expires: ContinuousClock.Instant
        /// The last request that used it.
        var used: ContinuousClock.Instant
    }

    static let lifetime: Duration = .seconds(8 * 3600)
    /// A session no request used for this long has ended (the cookie itself is a session
    /// cookie, gone when the browser closes; this ends one whose browser was left open).
    static let idle: Duration = .seconds(30 * 60)
    static let limit = 10_000
    /// Sessions one token holds at once (browsers and devices of one person).
    static let perToken = 64

    private let sessions = Mutex<[String: Session]>([:])
    private let clock: @Sendable () -> ContinuousClock.Instant

    init(clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.clock = clock
    }

    /// A new session for the token whose SHA-256 is `digest`: its id (43 base64url characters).
    func open(digest: [UInt8]) throws -> String {
        let id = try TokenGrant.randomBase64URL()
        let now = clock()
        sessions.withLock { sessions in
            // One token's sign-ins push out its own sessions first: a reader signing in in a loop
            // cannot push everyone else's sessions out of the table.
            // Ended ones go first; then the least lately used (not the oldest made: a session in
            // use all day would go before one left idle).
            for (id, session) in sessions where session.digest == digest && !Self.lasts(session, at: now) { sessions[id] = nil }
            let own = sessions.filter { $0.value.digest == digest }
            if own.count >= Self.perToken {
                for old in own.sorted(by: { $0.value.used < $1.value.used }).prefix(own.count - Self.perToken + 1) { sessions[old.key] = nil }
            }
            if sessions.count >= Self.limit {
                sessions = sessions.filter { Self.lasts($0.value, at: now) }
                while sessions.count >= Self.limit, let idlest = sessions.min(by: { $0.value.used < $1.value.used })?.key {
                    sessions[idlest] = nil
                }
            }
            sessions[id] = Session(digest: digest, expires: now + Self.lifetime, used: now)
        }
        return id
    }

    /// The token digest of session `id` while it lasts (nil: unknown, signed out or expired).
    func digest(of id: String) -> [UInt8]? {
        let now = clock()
        return sessions.withLock { sessions in
            guard let session = sessions[id] else { return nil }
            guard Self.lasts(session, at: now) else {
                sessions[id] = nil
                return nil
            }
            sessions[id]?.used = now
            return session.digest
        }
    }

    /// Whether `session` has not ended by `now` (its lifetime, or `idle` unused).
    private static func lasts(_ session: Session, at now: ContinuousClock.Instant) -> Bool {
        session.expires > now && now < session.used + idle
    }

    /// Ends every session whose token is not among `digests` (a reload removed it): they do
    /// not come back if the token is listed again later.
    func retain(digests: Set<[UInt8]>) {
        sessions.withLock { sessions in sessions = sessions.filter { digests.contains($0.value.digest) } }
    }

    /// Ends session `id` (signing out).
    func close(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    var count: Int { sessions.withLock { $0.count } }
}

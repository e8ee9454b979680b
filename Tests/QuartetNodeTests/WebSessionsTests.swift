import Foundation
@testable import QuartetNode
import Synchronization
import Testing

/// Browser sessions: ids that say nothing of the token, an end after `lifetime` or `idle` unused, the oldest
/// dropped when `limit` is reached, and sessions of tokens a reload removed dropped for good.
@Suite struct WebSessionsTests {
    final class Clock: Sendable {
        let now = Mutex(ContinuousClock.now)
        func advance(_ duration: Duration) { now.withLock { $0 += duration } }
    }

    @Test func sessionsEndAtTheirLifetimeAtTheLimitAndWithTheirToken() throws {
        let clock = Clock()
        let sessions = WebSessions(clock: { clock.now.withLock { $0 } })
        let reader: [UInt8] = Array(repeating: 1, count: 32), operator_: [UInt8] = Array(repeating: 2, count: 32)
        let first = try sessions.open(digest: reader)
        #expect(first.count == 43 && first.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(try sessions.open(digest: reader) != first, "two sign-ins share an id")
        #expect(sessions.digest(of: first) == reader)
        // Used every 20 minutes, it lasts its lifetime and no longer.
        var used = Duration.zero
        while used + .seconds(20 * 60) < WebSessions.lifetime {
            clock.advance(.seconds(20 * 60))
            used += .seconds(20 * 60)
            #expect(sessions.digest(of: first) == reader, "a session in use ended after \(used)")
        }
        clock.advance(WebSessions.lifetime - used - .seconds(1))
        #expect(sessions.digest(of: first) == reader, "a session in use ended before its lifetime")
        clock.advance(.seconds(2))
        #expect(sessions.digest(of: first) == nil, "a session outlived its lifetime")
        // Left unused for `idle`, it has ended (a browser left open on a shared machine).
        let idle = try sessions.open(digest: reader)
        clock.advance(WebSessions.idle - .seconds(1))
        #expect(sessions.digest(of: idle) == reader)
        clock.advance(WebSessions.idle - .seconds(1))
        #expect(sessions.digest(of: idle) == reader, "a use did not count")
        clock.advance(WebSessions.idle)
        #expect(sessions.digest(of: idle) == nil, "a session outlived its idle time")
        // A reload that keeps only the operator's token drops the reader's sessions.
        let kept = try sessions.open(digest: operator_), dropped = try sessions.open(digest: reader)
        sessions.retain(digests: [operator_])
        #expect(sessions.digest(of: kept) == operator_ && sessions.digest(of: dropped) == nil)
        sessions.close(kept)
        #expect(sessions.digest(of: kept) == nil)
    }

    @Test func aFloodOfSignInsDropsTheOldestFirst() throws {
        let clock = Clock()
        let sessions = WebSessions(clock: { clock.now.withLock { $0 } })
        let oldest = try sessions.open(digest: [1])
        clock.advance(.seconds(1))
        let second = try sessions.open(digest: [1])
        for i in 0..<(WebSessions.limit - 2) { _ = try sessions.open(digest: [2, UInt8(i % 256), UInt8(i / 256)]) }
        #expect(sessions.count == WebSessions.limit)
        clock.advance(.seconds(1))
        _ = try sessions.open(digest: [3])
        #expect(sessions.count == WebSessions.limit)
        #expect(sessions.digest(of: oldest) == nil && sessions.digest(of: second) == [1])
    }

    /// A token's sessions over its cap go by last use: the one in use stays, ended ones first.
    @Test func aTokensSessionInUseOutlastsItsLaterIdleOnes() throws {
        let clock = Clock()
        let sessions = WebSessions(clock: { clock.now.withLock { $0 } })
        let inUse = try sessions.open(digest: [5])
        var later: [String] = []
        for _ in 1..<WebSessions.perToken {
            clock.advance(.seconds(1))
            later.append(try sessions.open(digest: [5]))
        }
        clock.advance(.seconds(1))
        #expect(sessions.digest(of: inUse) == [5])
        _ = try sessions.open(digest: [5])
        #expect(sessions.digest(of: inUse) == [5], "the session in use was pushed out")
        #expect(sessions.digest(of: later[0]) == nil, "the least lately used one stayed")
    }

    @Test func oneTokenSigningInInALoopPushesOutOnlyItsOwnSessions() throws {
        let clock = Clock()
        let sessions = WebSessions(clock: { clock.now.withLock { $0 } })
        let operatorSession = try sessions.open(digest: [9])
        var flood: [String] = []
        for _ in 0..<(WebSessions.perToken * 3) {
            clock.advance(.seconds(1))
            flood.append(try sessions.open(digest: [7]))
        }
        #expect(sessions.count == WebSessions.perToken + 1)
        #expect(sessions.digest(of: operatorSession) == [9], "another token's session was pushed out")
        #expect(sessions.digest(of: flood[0]) == nil && sessions.digest(of: flood.last!) == [7])
        #expect(flood.suffix(WebSessions.perToken).allSatisfy { sessions.digest(of: $0) == [7] })
    }
}

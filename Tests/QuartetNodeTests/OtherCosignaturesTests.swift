import QuartetCrypto
import QuartetLedger
@testable import QuartetNode
import Synchronization
import Testing

/// The reads of the other members' checkpoints (`OtherCosignatures`, `MemberReads`): each
/// member's on its own task, a member whose read is under way (slow, or black-holing the
/// connection) not read again until it ends while the others are read at every refresh, none
/// started once stopped, and `drain` waiting for those under way.
@Suite struct MemberReadsTests {
    /// A read that waits until it is let go.
    actor Hold {
        private var released = false
        private var waiting: [CheckedContinuation<Void, Never>] = []
        func wait() async {
            if released { return }
            await withCheckedContinuation { waiting.append($0) }
        }
        func release() {
            released = true
            for continuation in waiting { continuation.resume() }
            waiting = []
        }
    }

    final class Counts: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        func add(_ id: String) { counts.withLock { $0[id, default: 0] += 1 } }
        var now: [String: Int] { counts.withLock { $0 } }
    }

    static func members(_ ids: [String]) throws -> [Federation.Member] {
        let key = try Ed25519PrivateKey()
        return ids.map { id in
            Federation.Member(id: id, role: .nation, peer: HostPort(host: "127.0.0.1", port: 1), api: "https://127.0.0.1:2", log: id,
                              verifier: NoteVerifier(name: "quartet.test/\(id)", publicKey: key.publicKey))
        }
    }

    /// Polls until `reads` has exactly `expected` under way (at most 10 s).
    static func until(_ reads: MemberReads, underWay expected: Set<String>) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while reads.underWay != expected {
            guard ContinuousClock.now < deadline else { throw TestFailure("reads under way: \(reads.underWay), expected \(expected)") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    struct TestFailure: Error, CustomStringConvertible { var description: String; init(_ d: String) { description = d } }

    @Test func aMemberWhoseReadIsUnderWayIsSkippedAndTheOthersAreRead() async throws {
        let reads = MemberReads()
        let members = try Self.members(["england", "scotland", "uk"])
        let counts = Counts()
        let scotland = Hold()
        let read: @Sendable (Federation.Member) async -> Void = { member in
            counts.add(member.id)
            if member.id == "scotland" { await scotland.wait() }
        }
        reads.start(members, read: read)
        try await Self.until(reads, underWay: ["scotland"])
        // Scotland's read has not ended (its node does not answer): the others are read again.
        reads.start(members, read: read)
        try await Self.until(reads, underWay: ["scotland"])
        #expect(counts.now == ["england": 2, "scotland": 1, "uk": 2])
        await scotland.release()
        try await Self.until(reads, underWay: [])
        reads.start(members, read: read)
        try await Self.until(reads, underWay: [])
        #expect(counts.now == ["england": 3, "scotland": 2, "uk": 3])
    }

    @Test func noReadStartsOnceStoppedAndDrainWaitsForThoseUnderWay() async throws {
        let reads = MemberReads()
        let members = try Self.members(["england", "scotland"])
        let counts = Counts()
        let hold = Hold()
        let ended = Counts()
        let read: @Sendable (Federation.Member) async -> Void = { member in
            counts.add(member.id)
            await hold.wait()
            ended.add(member.id)
        }
        reads.start(members, read: read)
        try await Self.until(reads, underWay: ["england", "scotland"])
        reads.stop()
        #expect(reads.stopped)
        reads.start(try Self.members(["uk"]), read: read)
        #expect(reads.underWay == ["england", "scotland"], "nothing starts once stopped")
        Task {
            try? await Task.sleep(for: .milliseconds(50))
            await hold.release()
        }
        await reads.drain()
        #expect(ended.now == ["england": 1, "scotland": 1], "drain returned before the reads under way ended")
        #expect(reads.underWay.isEmpty)
        #expect(counts.now == ["england": 1, "scotland": 1])
    }
}

/// A member named after a log this node holds but that it does not write (a removed member's
/// log, which stays in every store) is refused at start and at reload: a log's holder is known
/// by its name, so such a member would be sent that log's restricted payloads as its holder.
@Suite struct NodeNamedAfterAHeldLogTests {
    @Test func aMemberNamedAfterARemovedMembersLogIsRefused() throws {
        let members = try MemberReadsTests.members(["uk", "wales", "beta"])
        var federation = Federation(name: "test", version: 2, members: members)
        federation.members[2].log = "beta2"
        // "beta" was the log of a member since removed: this node still holds it.
        let problem = ReplicationEngine.nodeNamedAfterAHeldLog(federation, held: ["uk", "wales", "beta", "beta2"])
        #expect(problem?.contains("node id \"beta\" is the name of a log this node holds") == true, "\(problem ?? "nil")")
        // Its own log named after it, or no such log held: taken.
        federation.members[2].log = "beta"
        #expect(ReplicationEngine.nodeNamedAfterAHeldLog(federation, held: ["uk", "wales", "beta"]) == nil)
        federation.members[2].log = "beta2"
        #expect(ReplicationEngine.nodeNamedAfterAHeldLog(federation, held: ["uk", "wales", "beta2"]) == nil)
    }
}

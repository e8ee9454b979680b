import Foundation
import QuartetCrypto
import QuartetLedger
@testable import QuartetNode
import QuartetReplication
@testable import QuartetStore
import QuartetTestKit
import Synchronization
import Testing

/// A checkpoint the log's key signed, set against this node's copy of the log: evidence every
/// member can check when the copy holds another root at that size (the fork a log got
/// cosigned by witnesses whose copies lagged, then pushed them another history), nothing while
/// the copy agrees or is shorter; and each split view reported once.
@Suite struct CopyContradictionTests {
    @Test func aSignedCheckpointTheCopyContradictsMakesEvidenceThatVerifies() async throws {
        let dir = try TestKit.temporaryDirectory("contradiction")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try TestKit.makeStore(log: "wales", at: dir)
        let key = try DataDirectory(path: dir.path).readSigningKey(log: "wales")
        let signer = try NoteSigner(name: "quartet.test/wales", key: key)
        let writer = try LogWriter(store: store, log: "wales")
        for i in 0..<10 { _ = try await writer.append(AppendRequest(type: "test.note", author: "t", payload: TestKit.payload(i))) }
        let info = try store.log(named: "wales")
        let held = try #require(try store.latestCheckpoint(info))
        #expect(held.checkpoint.size == 10)

        // The copy's own checkpoints agree with it; a size beyond the copy says nothing yet.
        let agreeing = try #require(try store.checkpoint(info, size: 4) ?? store.latestCheckpoint(info))
        #expect(try CopyContradiction.evidence(ledger: store, info: info, note: SignedNote(parsing: agreeing.note), checkpoint: agreeing.checkpoint) == nil)
        #expect(CopyContradiction.contradicts(ledger: store, info: info, size: agreeing.checkpoint.size, root: agreeing.checkpoint.root) == false)
        let beyond = Checkpoint(origin: "quartet.test/wales", size: 12, root: try Hash(Array(repeating: 7, count: 32)))
        #expect(try CopyContradiction.evidence(ledger: store, info: info, note: try signer.sign(beyond), checkpoint: beyond) == nil)
        #expect(CopyContradiction.contradicts(ledger: store, info: info, size: 12, root: beyond.root) == nil, "a size beyond the copy: cannot tell")

        // The fork: sizes 6 and 10 signed over other roots, carrying a junk line too.
        let junk = try NoteSigner(name: "junk.example/key", key: try Ed25519PrivateKey())
        for size: UInt64 in [6, 10] {
            let fork = Checkpoint(origin: "quartet.test/wales", size: size, root: try Hash(Array(repeating: UInt8(size), count: 32)))
            var note = try signer.sign(fork)
            note.signatures += try junk.sign(text: note.text).signatures
            #expect(CopyContradiction.contradicts(ledger: store, info: info, size: size, root: fork.root) == true)
            let evidence = try #require(try CopyContradiction.evidence(ledger: store, info: info, note: note, checkpoint: fork))
            let (first, second) = try evidence.verify(with: signer.verifier)
            #expect(first.size == size && second.size == 10 && evidence.log == "wales")
            #expect(evidence.proof.isEmpty == (size == 10))
            #expect(!evidence.first.contains("junk.example"), "lines by other keys kept in the evidence")
        }
        try store.close()
    }

    @Test func eachContradictedCheckpointIsReportedOnceAndALogAtMostOnceAMinute() {
        let now = Mutex(ContinuousClock.now)
        let reports = SplitViewReports(clock: { now.withLock { $0 } })
        let seen = NIOLockedBox(0)
        reports.connect { _ in seen.add() }
        let evidence = Evidence(log: "wales", first: "a", second: "b", prefixRoot: try! Hash(Array(repeating: 1, count: 32)), proof: [])
        let built = NIOLockedBox(0)
        func report(_ log: String, _ text: String) -> Bool { reports.report(log: log, checkpointText: text) { built.add(); return evidence } }
        #expect(report("wales", "fork 1"))
        #expect(!report("wales", "fork 1"), "a replayed checkpoint reported again")
        #expect(!report("wales", "fork 2"), "a second fork of one log within the minute")
        #expect(report("scotland", "fork 1"), "another log's")
        #expect(built.value == 2, "evidence built for a report that was not due")
        now.withLock { $0 += .seconds(61) }
        #expect(!report("wales", "fork 1"))
        #expect(report("wales", "fork 2"))
        // Nothing to report (the copy agrees): nothing remembered either.
        now.withLock { $0 += .seconds(61) }
        #expect(!reports.report(log: "wales", checkpointText: "fork 3") { nil })
        #expect(report("wales", "fork 3"))
        // Older checkpoints are forgotten past the bound (memory stays bounded).
        for i in 0..<SplitViewReports.remembered { _ = report("log\(i)", "x") }
        now.withLock { $0 += .seconds(61) }
        #expect(report("wales", "fork 1"))
        #expect(seen.value == built.value)
    }

    final class NIOLockedBox: @unchecked Sendable {
        private let lock = NSLock()
        private var count: Int
        init(_ count: Int) { self.count = count }
        func add() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }
}

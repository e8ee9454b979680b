import Foundation
import QuartetLedger
@testable import QuartetNode
import QuartetReplication
@testable import QuartetStore
import QuartetTestKit
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
        #expect(try CopyContradiction.evidence(ledger: store, info: info, note: agreeing.note, checkpoint: agreeing.checkpoint) == nil)
        let beyond = Checkpoint(origin: "quartet.test/wales", size: 12, root: try! Hash(Array(repeating: 7, count: 32)))
        #expect(try CopyContradiction.evidence(ledger: store, info: info, note: try signer.sign(beyond).serialized, checkpoint: beyond) == nil)

        // The fork: size 6 (and 10) signed over other roots.
        for size: UInt64 in [6, 10] {
            let fork = Checkpoint(origin: "quartet.test/wales", size: size, root: try Hash(Array(repeating: UInt8(size), count: 32)))
            let note = try signer.sign(fork).serialized
            let evidence = try #require(try CopyContradiction.evidence(ledger: store, info: info, note: note, checkpoint: fork))
            let (first, second) = try evidence.verify(with: signer.verifier)
            #expect(first.size == size && second.size == 10 && evidence.log == "wales")
            #expect(evidence.proof.isEmpty == (size == 10))
        }
        try store.close()
    }

    @Test func eachSplitViewIsReportedOnce() {
        let reports = SplitViewReports()
        let seen = NIOLockedBox(0)
        reports.connect { _ in seen.add() }
        let a = Evidence(log: "wales", first: "a", second: "b", prefixRoot: try! Hash(Array(repeating: 1, count: 32)), proof: [])
        let b = Evidence(log: "wales", first: "a", second: "c", prefixRoot: try! Hash(Array(repeating: 1, count: 32)), proof: [])
        #expect(reports.report(a))
        #expect(!reports.report(a), "a replayed request reported again")
        #expect(reports.report(b))
        // Older ones are forgotten past the bound (memory stays bounded).
        for i in 0..<SplitViewReports.remembered {
            reports.report(Evidence(log: "wales", first: "\(i)", second: "x", prefixRoot: try! Hash(Array(repeating: 2, count: 32)), proof: []))
        }
        #expect(reports.report(a))
        #expect(seen.value == 3 + SplitViewReports.remembered)
    }

    final class NIOLockedBox: @unchecked Sendable {
        private let lock = NSLock()
        private var count: Int
        init(_ count: Int) { self.count = count }
        func add() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }
}

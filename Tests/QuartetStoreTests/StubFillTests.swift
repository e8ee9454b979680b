import Foundation
import QuartetCrypto
import QuartetLedger
@testable import QuartetStore
import QuartetTestKit
import Testing

/// Stubs of a log given their payloads back (`quartet recover`'s backfill): only the payload
/// the header committed to fills a stub; anything else is skipped and the log still verifies.
@Suite struct StubFillTests {
    /// An origin with 6 entries, and a replica holding all of them, entries 1, 3 and 4 as stubs.
    func replicaWithStubs() async throws -> (origin: [Entry], replica: LedgerStore, log: LogInfo) {
        let origin = try TestKit.makeStore()
        let writer = try LogWriter(store: origin, log: "wales")
        _ = try await writer.append(contentsOf: (0..<6).map { AppendRequest(type: "t", payload: TestKit.payload($0)) })
        let log = try origin.log(named: "wales")
        let (entries, note) = try #require(try origin.decodedBatch(log, from: 0, maxEntries: 100, maxBytes: 1 << 20))
        let replica = try LedgerStore.create(DataDirectory(path: try TestKit.temporaryDirectory("stubs").path))
        let replicaLog = try replica.addLog(name: "wales", origin: log.origin, publicKey: log.publicKey, own: false, nowMillis: 1)
        let stubbed = entries.enumerated().map { [1, 3, 4].contains($0.offset) ? $0.element.stub : $0.element }
        try replica.ingest(replicaLog, from: 0, entries: stubbed, note: note, checkpoint: try log.verifier.verifyCheckpoint(try SignedNote(parsing: note)))
        return (entries, replica, replicaLog)
    }

    @Test func onlyThePayloadTheHeaderCommittedToFillsAStub() async throws {
        let (entries, replica, log) = try await replicaWithStubs()
        #expect(try replica.stubIndices(log) == [1, 3, 4])
        // Looked up among given indices: the same answer for those, nothing for others.
        #expect(try replica.stubIndices(log, among: [4, 0, 1, 2, 99, UInt64.max]) == [1, 4])

        // A payload with another salt (or other bytes) does not match entry 3's commitment; an
        // entry of another log at index 4 does not match the stored header: neither fills anything.
        let forged = try Entry(log: "wales", index: 3, timeMillis: entries[3].header.timeMillis, type: "t", classification: "public", author: "",
                               payload: TestKit.payload(3), salt: [UInt8](repeating: 7, count: 32))
        let elsewhere = try Entry(log: "england", index: 4, timeMillis: 1, type: "t", classification: "public", author: "",
                                  payload: TestKit.payload(4), salt: [UInt8](repeating: 1, count: 32))
        #expect(try replica.fillStubs(log, with: [forged, elsewhere, entries[0].stub]) == [])
        // Entry 1's payload cannot pass as entry 3's (Entry refuses it before the store sees it).
        #expect(throws: LedgerError.self) { try Entry(headerBytes: entries[3].headerBytes, payload: entries[1].payload) }
        #expect(try replica.fillStubs(log, with: [entries[1]]) == [1])
        #expect(try replica.stubIndices(log) == [3, 4])

        // The true entries fill their stubs; an entry held in full already is left as it is.
        #expect(try replica.fillStubs(log, with: [entries[0], entries[3], entries[4]]) == [3, 4])
        #expect(try replica.stubIndices(log).isEmpty)
        let stored = try replica.entries(log, from: 0, limit: 10)
        #expect(stored.map(\.payload) == entries.map(\.payload))
        let report = replica.verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    /// A stub in a node's own log is a deleted payload to `verify`, unless its loss is recorded
    /// (it came back from peers as a stub: `lost-payloads`).
    @Test func anOwnLogStubVerifiesOnlyWhenItsLossIsRecorded() async throws {
        let origin = try TestKit.makeStore()
        let writer = try LogWriter(store: origin, log: "wales")
        _ = try await writer.append(contentsOf: (0..<4).map { AppendRequest(type: "t", payload: TestKit.payload($0)) })
        let log = try origin.log(named: "wales")
        let (entries, note) = try #require(try origin.decodedBatch(log, from: 0, maxEntries: 100, maxBytes: 1 << 20))
        let recovered = try LedgerStore.create(DataDirectory(path: try TestKit.temporaryDirectory("recovered").path))
        let own = try recovered.addLog(name: "wales", origin: log.origin, publicKey: log.publicKey, own: true, nowMillis: 1)
        let stubbed = entries.enumerated().map { $0.offset == 2 ? $0.element.stub : $0.element }
        try recovered.ingest(own, from: 0, entries: stubbed, note: note, checkpoint: try log.verifier.verifyCheckpoint(try SignedNote(parsing: note)), ownTail: true)
        #expect(recovered.verify().problems.map(\.index) == [2])
        // Another index, or another log, recorded lost excuses nothing.
        try recovered.directory.recordLostPayloads(log: "wales", indices: [1])
        try recovered.directory.recordLostPayloads(log: "england", indices: [2])
        #expect(recovered.verify().problems.map(\.index) == [2])
        try recovered.directory.recordLostPayloads(log: "wales", indices: [2])
        #expect(recovered.verify().isValid)
        #expect(recovered.directory.lostPayloads() == ["wales": [1, 2], "england": [2]])
    }

    /// A record an earlier write left torn (a kill in a long write, a power cut before its sync)
    /// never takes the next record's first line with it, nor reads as another index.
    @Test func aTornRecordDoesNotSwallowTheNext() throws {
        let directory = DataDirectory(path: try TestKit.temporaryDirectory("torn").path)
        try FileManager.default.createDirectory(atPath: directory.url.path, withIntermediateDirectories: true)
        // `wales 41\n` cut after `wales 4`, and an older file's whole line before it.
        try Data("wales 7\nwales 4".utf8).write(to: URL(fileURLWithPath: directory.lostPayloadsPath))
        try directory.recordLostPayloads(log: "wales", indices: [41, 42])
        #expect(directory.lostPayloads() == ["wales": [7, 41, 42]], "\(String(decoding: FileManager.default.contents(atPath: directory.lostPayloadsPath) ?? Data(), as: UTF8.self))")
    }
}

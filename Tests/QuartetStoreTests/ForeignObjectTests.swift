import Foundation
import GRDB
@testable import QuartetStore
import QuartetTestKit
import Testing

/// `verify` notices what Quartet did not put in the database, and a node refuses a data
/// directory that other users can change.
@Suite struct ForeignObjectTests {
    func storeWithEntries() async throws -> (URL, LedgerStore) {
        let dir = try TestKit.temporaryDirectory()
        let store = try TestKit.makeStore(at: dir)
        let writer = try LogWriter(store: store, log: "wales")
        _ = try await writer.append(contentsOf: (0..<20).map { AppendRequest(type: "t", payload: TestKit.payload($0)) })
        return (dir, store)
    }

    @Test(arguments: [
        ("CREATE TRIGGER sneaky AFTER INSERT ON entries BEGIN UPDATE entries SET payload = NULL WHERE key = NEW.key; END", "trigger"),
        ("CREATE TABLE shadow (x)", "table"),
        ("CREATE VIEW v AS SELECT * FROM entries", "view"),
        ("CREATE INDEX extra ON entries (leaf_hash)", "index"),
        ("INSERT INTO meta (key, value) VALUES ('note', 'x')", "meta"),
        ("INSERT INTO entries (key, header, leaf_hash) VALUES (\(Int64(99) << 40), x'00', x'00')", "no registered log"),
        ("INSERT INTO nodes (log_id, level, idx, hash) VALUES (1, 8, 100000, x'0000000000000000000000000000000000000000000000000000000000000000')", "subtree hashes cover entries"),
    ])
    func anythingQuartetDidNotPutThereIsReported(sql: String, expected: String) async throws {
        let (dir, store) = try await storeWithEntries()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(store.verify().isValid)
        try store.close()
        let queue = try DatabaseQueue(path: DataDirectory(path: dir.path).databasePath)
        try await queue.write { try $0.execute(sql: sql) }
        try queue.close()
        let reopened = try LedgerStore.open(DataDirectory(path: dir.path))
        defer { try? reopened.close() }
        let report = reopened.verify()
        #expect(!report.isValid)
        #expect(report.problems.contains { $0.message.contains(expected) }, "\(report.problems)")
    }

    @Test func aDataDirectoryOthersCanWriteIsRefused() async throws {
        let (dir, store) = try await storeWithEntries()
        defer { try? FileManager.default.removeItem(at: dir) }
        try store.close()
        let directory = DataDirectory(path: dir.path)
        try directory.checkOwnership()
        for path in [directory.url.path, directory.keysPath] {
            chmod(path, 0o777)
            #expect(throws: StoreError.self) { try directory.checkOwnership() }
            chmod(path, 0o700)
        }
        try directory.checkOwnership()
    }
}

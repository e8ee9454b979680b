import Foundation
import GRDB
import QuartetCrypto
import QuartetLedger
@testable import QuartetStore
import QuartetTestKit
import Testing

/// Key rotation in the store: the rotation entry and its checkpoint (signed by the new key, and
/// the old one during the overlap), the writer signing with the key in force afterwards, a
/// replica recording the rotation, and `verify` following the chain and finding a rotation
/// whose record was removed.
@Suite struct KeyRotationStoreTests {
    /// A store whose wales log holds a rotation's entry from its first key to a new one, the
    /// new key in `next.pem` (and, `noOverlap`, its marker written before the entry), as `key
    /// rotate` leaves it just before the key files are swapped.
    static func rotationEntered(noOverlap: Bool) throws -> (store: LedgerStore, log: LogInfo, old: Ed25519PrivateKey, new: Ed25519PrivateKey, index: UInt64) {
        let store = try TestKit.makeStore()
        let directory = store.directory
        let log = try store.log(named: "wales")
        let old = try directory.readSigningKey(log: "wales"), new = try Ed25519PrivateKey()
        try directory.writeSigningKey(new, log: "wales", path: directory.nextKeyPath(log: "wales"))
        if noOverlap { try directory.writeNoOverlapMarker(log: "wales") }
        let (rotation, _) = try store.appendRotation(log, previous: old, key: new, overlap: !noOverlap)
        return (store, log, old, new, rotation.index)
    }

    /// A rotation interrupted after its entry went in is finished at the next use of the keys:
    /// without the old key when `--no-overlap` asked for that (its marker is written before the
    /// entry), and from what a crash between the two renames of earlier versions left (no
    /// `<log>.pem`, the key in force only in `next.pem`).
    @Test func anInterruptedRotationIsFinishedAsItWasAsked() throws {
        for (noOverlap, oldCrash) in [(true, false), (false, true), (false, false)] {
            let (store, log, old, new, _) = try Self.rotationEntered(noOverlap: noOverlap)
            defer { try? FileManager.default.removeItem(at: store.directory.url) }
            let directory = store.directory
            if oldCrash { #expect(rename(directory.keyPath(log: "wales"), directory.previousKeyPath(log: "wales")) == 0) }
            // Read as it stands, nothing changed: `verify` and `backup` take it as a start will
            // (they refused the old key beside the next one as "not that of" the database).
            let read = try directory.keyInForce(log: "wales", chain: try store.keyChain(log))
            #expect(read.key.publicKey == new.publicKey && read.interrupted)
            #expect(FileManager.default.fileExists(atPath: directory.nextKeyPath(log: "wales")))
            let report = store.verify()
            #expect(report.isValid, "noOverlap \(noOverlap), oldCrash \(oldCrash): \(report.problems)")
            let keys = try directory.signingKeys(log: "wales", chain: try store.keyChain(log))
            #expect(keys.current.publicKey == new.publicKey, "noOverlap \(noOverlap), oldCrash \(oldCrash)")
            #expect(try directory.readSigningKey(log: "wales").publicKey == new.publicKey)
            #expect(!FileManager.default.fileExists(atPath: directory.nextKeyPath(log: "wales")))
            #expect(!FileManager.default.fileExists(atPath: directory.noOverlapPath(log: "wales")))
            #expect(FileManager.default.fileExists(atPath: directory.previousKeyPath(log: "wales")) == !noOverlap, "noOverlap \(noOverlap)")
            #expect((keys.previous?.publicKey == old.publicKey) == !noOverlap)
            #expect(try directory.keyInForce(log: "wales", chain: try store.keyChain(log)).interrupted == false)
        }
    }

    /// The previous key signs within the overlap, and its file goes once the overlap is over
    /// (else it stayed on disk, and in every backup, for ever).
    @Test func thePreviousKeyFileGoesWhenTheOverlapEnds() throws {
        let (store, log, old, new, index) = try Self.rotationEntered(noOverlap: false)
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let directory = store.directory
        try directory.finishRotation(log: "wales")
        let rotated = try #require(try store.entries(log, from: index, limit: 1).first).header.timeMillis
        let within = try WriterKeys.resolve(store: store, log: log, nowMillis: rotated + DataDirectory.rotationOverlapMillis - 1)
        #expect(within.overlap?.signer.verifier.publicKey == old.publicKey)
        #expect(FileManager.default.fileExists(atPath: directory.previousKeyPath(log: "wales")))
        let after = try WriterKeys.resolve(store: store, log: log, nowMillis: rotated + DataDirectory.rotationOverlapMillis)
        #expect(after.overlap == nil && after.signer.verifier.publicKey == new.publicKey)
        #expect(!FileManager.default.fileExists(atPath: directory.previousKeyPath(log: "wales")), "the old key's file outlived its overlap")
    }

    /// A batch served to a peer ends before the key rotation after `maxRotations` (the receiver
    /// checks at most that many new ones in a batch), at the checkpoint before it.
    @Test func aServedBatchHoldsAtMostMaxRotations() throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let log = try store.log(named: "wales")
        var current = try store.directory.readSigningKey(log: "wales")
        var indices: [UInt64] = []
        for _ in 0..<10 {
            let next = try Ed25519PrivateKey()
            try store.directory.writeSigningKey(next, log: "wales", path: store.directory.nextKeyPath(log: "wales"))
            let (rotation, _) = try store.appendRotation(log, previous: current, key: next, overlap: true)
            try store.directory.finishRotation(log: "wales")
            indices.append(rotation.index)
            current = next
        }
        func rotations(_ batch: (entries: [StoredEntryBytes], note: String)?) throws -> Int {
            try #require(batch).entries.filter { EntryHeader.hasType(Array(KeyRotation.entryType.utf8), encoded: $0.headerBytes) }.count
        }
        let whole = try store.batch(log, from: 0, maxEntries: 4096, maxBytes: 8 << 20)
        #expect(try rotations(whole) == 10)
        let cut = try store.batch(log, from: 0, maxEntries: 4096, maxBytes: 8 << 20, maxRotations: 8)
        #expect(try rotations(cut) == 8 && cut?.entries.count == Int(indices[8]))
        // From within: counted from `from`.
        let later = try store.batch(log, from: indices[1], maxEntries: 4096, maxBytes: 8 << 20, maxRotations: 8)
        #expect(try rotations(later) == 8 && later?.entries.count == Int(indices[9] - indices[1]))

        // A relay that took all ten in one batch holds no checkpoint before the 9th: it serves
        // nothing from 0 (the peer asks another, or the writer), not all ten past the cut
        // (finding 151 e); past the second, the ten end at its one checkpoint within eight.
        let relayStore = try TestKit.makeStore(log: "england")
        defer { try? FileManager.default.removeItem(at: relayStore.directory.url) }
        let pinned = try #require(try store.keyChain(log).keys.first)
        let relay = try relayStore.addLog(name: "wales", origin: log.origin, publicKey: pinned, own: false, nowMillis: 1)
        let all = try store.entries(log, from: 0, limit: 4096)
        let head = try #require(try store.latestCheckpoint(log))
        try relayStore.ingest(relay, from: 0, entries: all, note: head.note, checkpoint: head.checkpoint)
        #expect(try relayStore.batch(relay, from: 0, maxEntries: 4096, maxBytes: 8 << 20) != nil)
        #expect(try relayStore.batch(relay, from: 0, maxEntries: 4096, maxBytes: 8 << 20, maxRotations: 8) == nil)
        #expect(try rotations(try relayStore.batch(relay, from: indices[2], maxEntries: 4096, maxBytes: 8 << 20, maxRotations: 8)) == 8)
    }

    @Test func aRotatedLogIsSignedByTheNewKeyAndVerifiesHereAndAtAReplica() async throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let log = try store.log(named: "wales")
        do {
            let writer = try LogWriter(store: store, log: "wales")
            for i in 0..<3 { _ = try await writer.append(AppendRequest(type: "test.note", payload: TestKit.payload(i))) }
        }
        let old = try store.directory.readSigningKey(log: "wales"), new = try Ed25519PrivateKey()
        // Read (and kept by the writer) before the rotation: the rotation makes it read again.
        #expect(try store.keyChain(log).current == old.publicKey)
        try store.directory.writeSigningKey(new, log: "wales", path: store.directory.nextKeyPath(log: "wales"))
        let (rotation, checkpoint) = try store.appendRotation(log, previous: old, key: new, overlap: true)
        try store.directory.finishRotation(log: "wales")
        #expect(rotation.index == 3 && checkpoint.checkpoint.size == 4)
        let chain = try store.keyChain(log)
        #expect(chain.current == new.publicKey)
        // The writer signs with the new key, and with the old one too during the overlap.
        let writer = try LogWriter(store: store, log: "wales")
        let receipt = try await writer.append(AppendRequest(type: "test.note", payload: TestKit.payload(9)))
        let note = try SignedNote(parsing: receipt.checkpoint.note)
        #expect(note.signatures.count == 2)
        #expect(throws: Never.self) { try NoteVerifier(name: log.origin, publicKey: new.publicKey).verify(note) }
        #expect(throws: Never.self) { try NoteVerifier(name: log.origin, publicKey: old.publicKey).verify(note) }
        // Rotations are never posted as ordinary appends.
        #expect(throws: StoreError.self) { try writer.enqueue(contentsOf: [AppendRequest(type: KeyRotation.entryType, payload: rotation.payload)]) }
        #expect(store.verify().problems.isEmpty, "\(store.verify().problems)")

        // What a reader follows from the pinned key (the browser's check): the rotation entries
        // a tree of a size holds, each with its inclusion proof to that tree.
        #expect(try store.rotations(log, size: 3).isEmpty)
        for size: UInt64 in [4, 5] {
            let held = try store.rotations(log, size: size)
            #expect(held.count == 1 && held[0].entry.header.index == 3 && held[0].entry.header.type == KeyRotation.entryType)
            // Against the signed root of that size, not the proof's own.
            let root = try #require(try store.checkpoint(log, size: size)).checkpoint.root
            #expect(throws: Never.self) {
                try Merkle.verifyInclusion(index: 3, size: size, leaf: held[0].entry.leafHash, proof: held[0].inclusion.proof, root: root)
            }
            #expect(try KeyRotation(origin: log.origin, index: 3, payload: held[0].entry.payload!.bytes) == rotation)
        }

        // A replica stores the log, rotation included, and records the new key.
        let replicaStore = try TestKit.makeStore(log: "england")
        defer { try? FileManager.default.removeItem(at: replicaStore.directory.url) }
        let replica = try replicaStore.addLog(name: "wales", origin: log.origin, publicKey: old.publicKey, own: false, nowMillis: 1)
        let entries = try store.entries(log, from: 0, limit: 10)
        let head = try #require(try store.latestCheckpoint(log))
        #expect(try replicaStore.keyChain(replica).current == old.publicKey)
        try replicaStore.ingest(replica, from: 0, entries: entries, note: head.note, checkpoint: head.checkpoint)
        #expect(try replicaStore.keyChain(replica).current == new.publicKey)
        #expect(replicaStore.verify().problems.isEmpty, "\(replicaStore.verify().problems)")

        // The key recorded beside the rotation (which the proof and checkpoint reads take)
        // changed to another: verify names the log.
        let other = Data(try Ed25519PrivateKey().publicKey.rawRepresentation)
        try await replicaStore.pool.write { try $0.execute(sql: "UPDATE log_keys SET public_key = ?", arguments: [other]) }
        let swapped = replicaStore.verify().problems
        #expect(swapped.contains { $0.log == "wales" && $0.message.contains("recorded beside it") }, "\(swapped)")
        try await replicaStore.pool.write { try $0.execute(sql: "UPDATE log_keys SET public_key = ?", arguments: [Data(new.publicKey.rawRepresentation)]) }
        #expect(replicaStore.verify().problems.isEmpty, "\(replicaStore.verify().problems)")

        // Remove the record of the rotation: verify names the entry.
        try await replicaStore.pool.write { try $0.execute(sql: "DELETE FROM log_keys") }
        let problems = replicaStore.verify().problems
        #expect(problems.contains { $0.log == "wales" }, "\(problems)")
    }

    @Test func aForgedRotationIsNotStoredAtAReplica() throws {
        let store = try TestKit.makeStore()
        defer { try? FileManager.default.removeItem(at: store.directory.url) }
        let log = try store.log(named: "wales")
        let thief = try Ed25519PrivateKey(), theirs = try Ed25519PrivateKey()
        // What a host without the log's key could make: a rotation signed by the new key and a
        // key of its own, appended past the writer's checks.
        let rotation = try KeyRotation.make(origin: log.origin, index: 0, previous: thief, key: theirs)
        let entry = try Entry(log: "wales", index: 0, timeMillis: 5, type: KeyRotation.entryType, classification: "public",
                              author: "x", payload: rotation.payload, salt: [UInt8](repeating: 1, count: 32))
        var frontier = MerkleFrontier()
        frontier.append(entry.leafHash)
        let checkpoint = Checkpoint(origin: log.origin, size: 1, root: frontier.root, timeMillis: 5)
        let note = try NoteSigner(name: log.origin, key: theirs).sign(checkpoint).serialized
        let replicaStore = try TestKit.makeStore(log: "england")
        defer { try? FileManager.default.removeItem(at: replicaStore.directory.url) }
        let replica = try replicaStore.addLog(name: "wales", origin: log.origin, publicKey: log.publicKey, own: false, nowMillis: 1)
        let error = #expect(throws: StoreError.self) { try replicaStore.ingest(replica, from: 0, entries: [entry], note: note, checkpoint: checkpoint) }
        #expect(error?.code == .invalidInput)
        #expect(try replicaStore.size(replica) == 0)
    }
}

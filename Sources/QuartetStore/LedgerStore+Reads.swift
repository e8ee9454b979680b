import Foundation
import GRDB
import GRDBSQLite
import QuartetCrypto
import QuartetLedger
import Synchronization

/// Reading the logs a store holds: checkpoints, sizes and entries (any thread, one snapshot each).
extension LedgerStore {
    /// The latest signed checkpoint of `log`, or nil if nothing was appended yet.
    public func latestCheckpoint(_ log: LogInfo) throws(StoreError) -> StoredCheckpoint? {
        try read("read the checkpoint of \(log.name)") { db in try latestCheckpoint(db, log) }
    }

    /// The latest checkpoint of `log`, its signature checked against the key in force at its
    /// size (unless this very note was verified before: `VerifiedNotes`).
    func latestCheckpoint(_ db: Database, _ log: LogInfo) throws -> StoredCheckpoint? {
        // A cached statement: this runs on most reads and on every stored batch.
        let statement = try db.cachedStatement(sql: "SELECT note FROM checkpoints WHERE log_id = ? ORDER BY size DESC LIMIT 1")
        guard let row = try Row.fetchOne(statement, arguments: [log.id]) else {
            return nil
        }
        return try verified(db, log, note: row["note"], size: nil)
    }

    /// A stored checkpoint note of `log` checked against the key in force at its size (which
    /// must be `size` when given), unless this very note was verified before (`VerifiedNotes`).
    private func verified(_ db: Database, _ log: LogInfo, note: String, size: UInt64?) throws -> StoredCheckpoint {
        if let known = verifiedNotes.checkpoint(log: log.id, note: note), size.map({ $0 == known.size }) ?? true {
            return StoredCheckpoint(checkpoint: known, note: note)
        }
        let which = size.map { "the stored checkpoint of size \($0)" } ?? "the latest stored checkpoint"
        do {
            let signed = try SignedNote(parsing: note)
            let stated = try Checkpoint(parsing: signed.text).size
            guard size.map({ $0 == stated }) ?? true else { throw StoreError(.corrupt, "it states size \(stated)") }
            let checkpoint = try Self.keyInForce(db, log, size: stated).verifyCheckpoint(signed)
            verifiedNotes.verified(log: log.id, note: note, checkpoint: checkpoint)
            return StoredCheckpoint(checkpoint: checkpoint, note: note)
        } catch {
            throw StoreError(.corrupt, "log \(log.name): \(which) does not verify", cause: error)
        }
    }

    /// The checkpoint of `log` stored at exactly `size`, verified as the latest is; nil if none.
    public func checkpoint(_ log: LogInfo, size: UInt64) throws(StoreError) -> StoredCheckpoint? {
        try read("read a checkpoint of \(log.name)") { db in
            guard let note = try String.fetchOne(db, sql: "SELECT note FROM checkpoints WHERE log_id = ? AND size = ?", arguments: [log.id, Int64(clamping: size)]) else {
                return nil
            }
            return try verified(db, log, note: note, size: size)
        }
    }

    /// The newest checkpoint of `log` stored at a size of at most `size`, verified as the latest
    /// is; nil if none.
    public func checkpoint(_ log: LogInfo, atMost size: UInt64) throws(StoreError) -> StoredCheckpoint? {
        try read("read a checkpoint of \(log.name)") { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT size, note FROM checkpoints WHERE log_id = ? AND size <= ? ORDER BY size DESC LIMIT 1",
                                             arguments: [log.id, Int64(clamping: size)]) else {
                return nil
            }
            let stored: Int64 = row["size"]
            return try verified(db, log, note: row["note"], size: UInt64(max(0, stored)))
        }
    }

    /// The number of entries in `log` covered by its latest checkpoint.
    public func size(_ log: LogInfo) throws(StoreError) -> UInt64 {
        try latestCheckpoint(log)?.checkpoint.size ?? 0
    }

    /// The size and root of `log` as this store holds it, for checks on a hot path (a witness
    /// request): from the frontier the last batch `ingest` stored left when one is kept, with no
    /// read (two reads of the latest checkpoint were a quarter of a witness request's CPU), else
    /// from the latest checkpoint. The kept frontier is only ever the latest or a moment behind
    /// it (kept after its batch committed), as a read made a moment earlier would be; only
    /// `ingest` and the own log's writer add to a log, and the writer's log is not one a witness
    /// is asked about.
    public func heldTip(_ log: LogInfo) throws(StoreError) -> (size: UInt64, root: Hash) {
        if let kept = replicaFrontiers.kept(log: log.id) { return (kept.size, kept.root) }
        guard let latest = try latestCheckpoint(log) else { return (0, .emptyTree) }
        return (latest.checkpoint.size, latest.checkpoint.root)
    }

    /// The root of `log` at `size` where one of the last batches `ingest` stored ended there,
    /// with no read; nil where this store must be asked (`storedCheckpointRoot`, `root`).
    public func recentRoot(_ log: LogInfo, size: UInt64) -> Hash? {
        replicaFrontiers.root(log: log.id, size: size)
    }

    /// Entries `from`..<`from+limit` of `log` (fewer at the end of the log).
    /// - Parameter maxPayloadBytes: stop once the payload lengths the entries' headers state pass
    ///   this many bytes (the entry that passes it is included, so a page always makes progress).
    ///   Stubs count as their payloads would: where a page ends says nothing of which payloads
    ///   this node holds (a purge finished or not), and what it holds is at most what it counts.
    public func entries(_ log: LogInfo, from: UInt64, limit: Int, maxPayloadBytes: Int = .max) throws(StoreError) -> [Entry] {
        guard limit > 0, from < UInt64(1) << Schema.indexBits else { return [] }
        return try read("read entries of \(log.name)") { db in
            let first = Schema.entryKey(logID: log.id, index: from)
            let last = Schema.entryKey(logID: log.id, index: (UInt64(1) << Schema.indexBits) - 1)
            var out: [Entry] = []
            var bytes = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT key, header, salt, payload FROM entries WHERE key BETWEEN ? AND ? ORDER BY key LIMIT ?",
                                           arguments: [first, last, limit])
            while bytes <= maxPayloadBytes, let row = try rows.next() {
                let entry = try Self.decodeEntry(row, log: log)
                bytes += Int(entry.header.payloadLength)
                out.append(entry)
            }
            return out
        }
    }

    /// Decodes a row of `SELECT key, header, salt, payload` (by position: looking columns up by
    /// name costs more than the decoding).
    static func decodeEntry(_ row: Row, log: LogInfo) throws -> Entry {
        let key: Int64 = row[0]
        let index = UInt64(bitPattern: key) & ((UInt64(1) << Schema.indexBits) - 1)
        let header: Data = row[1]
        let salt: Data? = row[2]
        let payload: Data? = row[3]
        do {
            var body: EntryPayload?
            if let salt, let payload { body = try EntryPayload(salt: Array(salt), bytes: Array(payload)) }
            let entry = try Entry(headerBytes: Array(header), payload: body)
            guard entry.header.log == log.name, entry.header.index == index else {
                throw LedgerError(.malformed, "header names \(entry.header.log)/\(entry.header.index)")
            }
            return entry
        } catch {
            throw StoreError(.corrupt, "log \(log.name): entry \(index) does not decode", cause: error)
        }
    }
}

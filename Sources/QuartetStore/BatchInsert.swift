import GRDB
import QuartetLedger

/// A perfect subtree hash the store keeps (levels that are positive multiples of
/// `Schema.nodeLevelStride`).
typealias StoredNode = (level: Int, index: UInt64, hash: Hash)

extension LedgerStore {
    /// Inserts one batch of `log`: its entries, the subtree hashes it completed and the signed
    /// checkpoint that covers it. The one insert path of both the own log's writer and replica
    /// ingest; the caller holds the transaction (one transaction, one invariant). Through the
    /// SQLite C API (`RawStatement`): GRDB's argument handling costs more than the insert of a row.
    static func insertBatch(_ db: Database, log: LogInfo, entries: [Entry], nodes: [StoredNode],
                            checkpoint: Checkpoint, note: String, timeMillis: UInt64) throws {
        let insertEntry = try RawStatement(db, sql: "INSERT INTO entries (key, header, leaf_hash, salt, payload) VALUES (?, ?, ?, ?, ?)")
        // By index: iterating the elements copies each entry (a dozen retains apiece).
        for i in entries.indices {
            let key = RawStatement.Value.integer(Schema.entryKey(logID: log.id, index: entries[i].header.index))
            if let payload = entries[i].payload {
                try insertEntry.execute(key, .blob(entries[i].headerBytes), .blob(entries[i].leafHash.bytes), .blob(payload.salt), .blob(payload.bytes))
            } else {
                try insertEntry.execute(key, .blob(entries[i].headerBytes), .blob(entries[i].leafHash.bytes), .null, .null)
            }
        }
        if !nodes.isEmpty {
            let insertNode = try RawStatement(db, sql: "INSERT INTO nodes (log_id, level, idx, hash) VALUES (?, ?, ?, ?)")
            for node in nodes {
                try insertNode.execute(.integer(log.id), .integer(Int64(node.level)), .integer(Int64(node.index)), .blob(node.hash.bytes))
            }
        }
        try RawStatement(db, sql: "INSERT INTO checkpoints (log_id, size, root, note, time_ms) VALUES (?, ?, ?, ?, ?)")
            .execute(.integer(log.id), .integer(Int64(checkpoint.size)), .blob(checkpoint.root.bytes), .text(note), .integer(Int64(clamping: timeMillis)))
    }

    /// Extends `frontier` by `leaf`, collecting the subtrees the store keeps.
    static func extend(_ frontier: inout MerkleFrontier, with leaf: Hash, collecting nodes: inout [StoredNode]) {
        frontier.append(leaf) { level, index, hash in
            if level > 0, level % Schema.nodeLevelStride == 0 { nodes.append((level, index, hash)) }
        }
    }
}

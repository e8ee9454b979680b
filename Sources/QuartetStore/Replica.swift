import Foundation
import GRDB
import GRDBSQLite
import QuartetCrypto
import QuartetLedger

extension LedgerStore {
    /// Stores a batch of a replica log received from a peer: entries `[from, from + n)` and the
    /// signed checkpoint of size `from + n` that covers them (its signature already checked
    /// against the pinned key). In one transaction it checks that the batch starts where the
    /// stored log ends, that every entry decodes, names this log and its index, and matches its
    /// payload commitment, and that the leaves extend the stored tree to the checkpoint's root.
    /// Anything that does not fit is refused whole and nothing is stored.
    /// - Parameter ownTail: the batch is of this node's own log, taken from peers before the node
    ///   appends (a restored older copy catching up; `OwnLogSync`). Without it an own log is refused.
    /// - Parameter verifiedWith: the key the caller verified the note with. The note is checked
    ///   against the key in force at its size here; when that is the key given, the signature
    ///   is not verified a second time.
    /// - Parameter beforeCommit: run inside the transaction once every check passed, just
    ///   before it commits (what must be durable before the entries are: the own tail's lost
    ///   payloads); if it throws, nothing is stored.
    public func ingest(_ log: LogInfo, from: UInt64, entries: [Entry], note: String, checkpoint: Checkpoint, ownTail: Bool = false,
                       verifiedWith: Ed25519PublicKey? = nil, beforeCommit: (() throws -> Void)? = nil) throws(StoreError) {
        guard isWriter else { throw StoreError(.invalidInput, "this store was opened for reading; replicas are stored by the node") }
        guard !log.isOwn || ownTail else { throw StoreError(.notOwnLog, "log \(log.name) is this node's own log; it never takes entries from peers") }
        guard checkpoint.origin == log.origin else {
            throw StoreError(.invalidInput, "checkpoint origin \(checkpoint.origin) is not log \(log.name)'s origin \(log.origin)")
        }
        guard !entries.isEmpty, checkpoint.size == from + UInt64(entries.count) else {
            throw StoreError(.invalidInput, "batch [\(from), \(from + UInt64(entries.count))) does not end at the checkpoint's size \(checkpoint.size)")
        }
        let rotates = entries.contains { $0.header.type == KeyRotation.entryType }
        do {
            // Another node's log is committed without waiting for the disk (`replicaWrite`);
            // a tail of this node's own log is durable before the node appends on top of it.
            let store = { (db: Database) throws -> (MerkleFrontier, Checkpoint) in
                var frontier = try self.frontier(db, log)
                guard frontier.size == from else {
                    throw StoreError(.outOfRange, "log \(log.name) holds \(frontier.size) entries; a batch from \(from) does not follow")
                }
                var nodes: [StoredNode] = []
                // By index: iterating the elements copies each entry (a dozen retains apiece).
                for offset in entries.indices {
                    let index = from + UInt64(offset)
                    guard entries[offset].header.log == log.name, entries[offset].header.index == index else {
                        throw StoreError(.invalidInput, "entry \(offset) of the batch names \(entries[offset].header.log)/\(entries[offset].header.index), expected \(log.name)/\(index)")
                    }
                    Self.extend(&frontier, with: entries[offset].leafHash, collecting: &nodes)
                }
                guard frontier.root == checkpoint.root else {
                    throw StoreError(.invalidInput, "the leaves of log \(log.name) [\(from), \(checkpoint.size)) do not give the signed root")
                }
                // Key rotations: checked against the stored chain and recorded with the entries.
                try Self.recordRotations(db, log, entries: entries)
                // The note, checked as every later read of it would check it (against the key
                // in force at its size, rotations of this batch included), so those reads
                // find it verified (`VerifiedNotes`). The caller verified it already with the
                // key it names: with the same key, its signature is not verified twice.
                // The key read outside the check: a read error is this node's disk, not the
                // batch's fault (it made an honest peer blamed, then cut off).
                let key = try Self.keyInForce(db, log, size: checkpoint.size)
                let signed: Checkpoint
                do {
                    let parsed = try SignedNote(parsing: note)
                    signed = key.publicKey == verifiedWith ? try Checkpoint(parsing: parsed.text) : try key.verifyCheckpoint(parsed)
                } catch {
                    throw StoreError(.invalidInput, "the checkpoint of log \(log.name) at size \(checkpoint.size) does not verify with the key in force there", cause: error)
                }
                if let refusal = signed.extensionRefusal { throw StoreError(.invalidInput, refusal) }
                guard signed.size == checkpoint.size, signed.root == checkpoint.root else {
                    throw StoreError(.invalidInput, "the note of log \(log.name) signs size \(signed.size), not the checkpoint of size \(checkpoint.size) given with it")
                }
                try Self.insertBatch(db, log: log, entries: entries, nodes: nodes, checkpoint: checkpoint, note: note,
                                     timeMillis: checkpoint.timeMillis ?? 0)
                try beforeCommit?()
                return (frontier, signed)
            }
            // Kept key chains are read again after a batch with a rotation, stored or not.
            defer { if rotates { keyChains.rotationsStored() } }
            let (stored, signed) = ownTail ? try pool.write(store) : try replicaWrite(store)
            verifiedNotes.verified(log: log.id, note: note, checkpoint: signed)
            replicaFrontiers.stored(log: log.id, stored)
        } catch {
            // A failure may come after the commit (`replicaWrite` setting FULL again): the kept
            // frontier is dropped, so `heldTip` reads the store until a batch is stored again.
            replicaFrontiers.forget(log: log.id)
            if let error = error as? StoreError { throw error }
            throw StoreError(.io, "cannot store a batch of \(log.name)", cause: error)
        }
    }

    /// One write transaction committed with `PRAGMA synchronous = NORMAL`, then `FULL` again for
    /// every later write on the connection.
    ///
    /// In WAL mode that commit survives the process being killed (the WAL is written before
    /// the commit returns) and the database stays consistent across a power cut, but the last
    /// such transactions may be lost in one: what a replica then lacks of another node's log is
    /// taken from the peers again, as after any gap. Its fsync was the larger part of a
    /// replica's CPU per small batch on this kind of virtual disk. Everything a promise rests on
    /// still waits for the disk: the node's own appends (acknowledged only once durable, and a
    /// later `FULL` commit also makes every earlier WAL frame durable), a tail of its own log
    /// taken from peers, and the witness's state (`WitnessStore`).
    func replicaWrite<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            try RawStatement(db, sql: "PRAGMA synchronous = NORMAL").execute()
            let result = Result { () throws -> T in try RawStatement.transaction(db) { try body(db) } }
            try RawStatement(db, sql: "PRAGMA synchronous = FULL").execute()
            return try result.get()
        }
    }

    /// What to send a peer that asked for `log` from `from`: the entries up to the largest stored
    /// checkpoint no more than `maxEntries` (and, past the first checkpoint, `maxBytes` of
    /// payload) beyond `from`, and that checkpoint's note. Nil if nothing is stored beyond `from`.
    ///
    /// The entries are the stored bytes as they are (header and payload, not decoded or hashed
    /// again): they only travel on, and every receiver checks them in full. What a receiver
    /// refuses is never stored anywhere, and `quartet verify` checks the store itself.
    /// - Parameter through: no checkpoint beyond this size is served (what the caller has made
    ///   public so far: the engine's own head, which moves only after the commit's hooks ran).
    /// - Parameter maxRotations: the batch ends before the key rotation after this many (past
    ///   the first checkpoint): a receiver checks at most that many new rotations in a batch.
    public func batch(_ log: LogInfo, from: UInt64, maxEntries: Int, maxBytes: Int, through: UInt64 = .max,
                      maxRotations: Int = .max) throws(StoreError) -> (entries: [StoredEntryBytes], note: String)? {
        try read("read a batch of \(log.name)") { db -> (entries: [StoredEntryBytes], note: String)? in
            let limit = Int64(clamping: through)
            var furthest = Int64(from) + Int64(maxEntries)
            var cutByRotations = false
            if maxRotations < Int.max {
                let rotations = try Int64.fetchAll(db, sql: "SELECT rotation_index FROM log_keys WHERE log_id = ? AND rotation_index >= ? ORDER BY rotation_index LIMIT ?",
                                                   arguments: [log.id, Int64(from), maxRotations + 1])
                // A checkpoint of size s holds the entries before s: up to the rotation left out.
                if rotations.count > maxRotations, rotations[maxRotations] < furthest {
                    furthest = rotations[maxRotations]
                    cutByRotations = true
                }
            }
            let sizes = try Int64.fetchAll(db, sql: "SELECT size FROM checkpoints WHERE log_id = ? AND size > ? AND size <= ? AND size <= ? ORDER BY size",
                                           arguments: [log.id, Int64(from), furthest, limit])
            var end: UInt64
            if sizes.isEmpty {
                // The next checkpoint is beyond the entry limit (only if a batch was that large).
                // None before the rotation the cut leaves out (a relay that merged batches keeps
                // only their last checkpoint): nothing is served from here (the peer asks
                // another, or the writer).
                guard !cutByRotations, let next = try Int64.fetchOne(db, sql: "SELECT MIN(size) FROM checkpoints WHERE log_id = ? AND size > ? AND size <= ?",
                                                                     arguments: [log.id, Int64(from), limit]) else { return nil }
                end = UInt64(next)
            } else {
                end = UInt64(sizes.last!)
                // Respect the byte budget, but always send at least up to the first checkpoint.
                let first = Schema.entryKey(logID: log.id, index: from)
                var bytes = 0
                let rows = try Row.fetchCursor(db, sql: "SELECT key, length(header) + coalesce(length(payload), 0) AS n FROM entries WHERE key BETWEEN ? AND ? ORDER BY key",
                                               arguments: [first, Schema.entryKey(logID: log.id, index: end - 1)])
                var cut: UInt64?
                var index = from
                while let row = try rows.next() {
                    bytes += row["n"] as Int
                    index += 1
                    if bytes > maxBytes { cut = index; break }
                }
                if let cut, let fitting = sizes.last(where: { UInt64($0) < cut }) ?? sizes.first {
                    end = max(UInt64(fitting), UInt64(sizes.first!))
                }
            }
            let first = Schema.entryKey(logID: log.id, index: from)
            var entries: [StoredEntryBytes] = []
            entries.reserveCapacity(Int(end - from))
            try RawStatement(db, sql: "SELECT header, salt, payload FROM entries WHERE key BETWEEN ? AND ? ORDER BY key")
                .query(.integer(first), .integer(Schema.entryKey(logID: log.id, index: end - 1))) { row in
                    guard let header = row.bytes(0) else { throw StoreError(.corrupt, "log \(log.name): entry \(from + UInt64(entries.count)) has no header") }
                    var payload: EntryPayload?
                    if let salt = row.bytes(1), let bytes = row.bytes(2) {
                        guard salt.count == EntryPayload.saltLength, let commitment = EntryHeader.payloadCommitment(encoded: header) else {
                            throw StoreError(.corrupt, "log \(log.name): entry \(from + UInt64(entries.count)) does not decode")
                        }
                        payload = EntryPayload(stored: salt, bytes: bytes, commitment: commitment)
                    }
                    entries.append(StoredEntryBytes(headerBytes: header, payload: payload))
                }
            guard entries.count == Int(end - from),
                  let note = try String.fetchOne(db, sql: "SELECT note FROM checkpoints WHERE log_id = ? AND size = ?", arguments: [log.id, Int64(end)]) else {
                throw StoreError(.corrupt, "log \(log.name): entries [\(from), \(end)) are not all stored")
            }
            return (entries, note)
        }
    }

    /// The root of the first `size` entries of `log` and the consistency proof from it to the
    /// latest checkpoint, with that checkpoint's note: what equivocation evidence needs.
    public func prefix(_ log: LogInfo, size: UInt64) throws(StoreError) -> (root: Hash, proof: [Hash], note: String) {
        guard let head = try latestCheckpoint(log) else { throw StoreError(.outOfRange, "log \(log.name) is empty") }
        let consistency = try consistencyProof(log, from: size, to: head.checkpoint.size)
        return (consistency.fromRoot, consistency.proof, head.note)
    }
}

extension LedgerStore {
    /// Drops the payloads (and salts) of entries of a replica log whose classification is one
    /// of `labels` and that `keep` does not keep, leaving their headers — stubs that still
    /// verify. Returns the indices purged. A node's own log is never purged.
    /// How long one try of `emptyWAL` waits for the readers before it.
    static let checkpointWaitMillis = 250

    /// Checkpoints the WAL into the database file and truncates it. Readers can keep a
    /// checkpoint from finishing (SQLite answers busy): it is tried 50 times, 100 ms apart, then
    /// reported as an error (the old page images stay in the WAL until a later checkpoint).
    /// Each try waits at most `checkpointWaitMillis` for readers, holding the writer: with the
    /// connection's busy timeout (10 s) a TRUNCATE checkpoint waited that long, and 50 tries
    /// could stall appends and ingest for minutes; with none, readers started in the gaps
    /// between tries (as appends and reads go on) could keep every try from finishing.
    public func emptyWAL() throws(StoreError) {
        do {
            for _ in 0..<50 {
                let busy = try pool.writeWithoutTransaction { db -> Int in
                    guard let connection = db.sqliteConnection else { return 1 }
                    sqlite3_busy_timeout(connection, Int32(Self.checkpointWaitMillis))
                    defer { sqlite3_busy_timeout(connection, Int32(Self.busyTimeoutSeconds * 1000)) }
                    return try Int.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") ?? 1
                }
                if busy == 0 { return }
                usleep(100_000)
            }
        } catch {
            throw StoreError(.io, "cannot checkpoint the WAL of \(directory.url.path)", cause: UnderlyingError("\(error)"))
        }
        throw StoreError(.busy, "the WAL of \(directory.url.path) could not be emptied: readers kept the checkpoint busy through 50 tries")
    }

    /// Drops the payloads of `log`'s entries under `labels` that `keep` does not keep, given
    /// each entry's header and payload (stubs stay). The old page images remain in the WAL
    /// until `emptyWAL()`, which the caller runs next (and retries).
    public func purge(_ log: LogInfo, labels: Set<String>, keep: (EntryHeader, [UInt8]) -> Bool) throws(StoreError) -> [UInt64] {
        try purge(log, candidates: try purgeCandidates(log, labels: labels), labels: labels, keep: keep)
    }

    /// The entries of `log` under `labels` whose payloads this store holds (their keys), read
    /// header by header through a cursor in a read transaction: neither the writer nor any
    /// payload is held while a large log is scanned (a member's log of many large public
    /// entries read whole into memory at every purge was a way to exhaust it).
    public func purgeCandidates(_ log: LogInfo, labels: Set<String>) throws(StoreError) -> [PurgeCandidate] {
        guard !labels.isEmpty else { return [] }
        return try read("find payloads of \(log.name) to purge") { db in
            let first = Schema.entryKey(logID: log.id, index: 0)
            let last = Schema.entryKey(logID: log.id, index: (1 << Schema.indexBits) - 1)
            var candidates: [PurgeCandidate] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT key, header FROM entries WHERE key BETWEEN ? AND ? AND payload IS NOT NULL", arguments: [first, last])
            while let row = try rows.next() {
                let header = try EntryHeader(decoding: Array(row[1] as Data))
                if labels.contains(header.classification) { candidates.append(PurgeCandidate(key: row[0], index: header.index)) }
            }
            return candidates
        }
    }

    /// Which of `indices` of `log` this store has not cleared the payloads of: what a purge
    /// journalled before a crash had not yet cleared. Only an entry stored as a stub counts as
    /// cleared: one not stored at all (its batch, committed without a sync, lost in a power cut
    /// with the purge that never committed) was cleared by no purge, and counts as held.
    public func payloadsHeld(_ log: LogInfo, indices: [UInt64]) throws(StoreError) -> Set<UInt64> {
        try read("read which payloads of \(log.name) are held") { db in
            var held: Set<UInt64> = []
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM entries WHERE key = ? AND payload IS NULL")
            for index in indices {
                guard index < (1 << Schema.indexBits),
                      try Row.fetchOne(statement, arguments: [Schema.entryKey(logID: log.id, index: index)]) != nil else {
                    held.insert(index)
                    continue
                }
            }
            return held
        }
    }

    /// `purge` of the `candidates` `purgeCandidates` found: each read again in the write
    /// transaction (its label and payload checked there), so the writer is held only for them.
    /// `holding` wraps the transaction, commit included, once the writer is this store's: a
    /// caller's lock taken there is never held while waiting for the writer (the view's lock,
    /// held across a wait behind a long ingest, stalled appends and replication).
    public func purge(_ log: LogInfo, candidates: [PurgeCandidate], labels: Set<String>, keep: (EntryHeader, [UInt8]) -> Bool,
                      holding: (() throws -> [UInt64]) throws -> [UInt64] = { try $0() }) throws(StoreError) -> [UInt64] {
        guard isWriter else { throw StoreError(.invalidInput, "this store was opened for reading") }
        guard !log.isOwn else { throw StoreError(.notOwnLog, "log \(log.name) is this node's own log; its payloads are never purged") }
        guard !candidates.isEmpty else { return [] }
        do {
            let purged = try withoutActuallyEscaping(keep) { keep in try pool.writeWithoutTransaction { db -> [UInt64] in
                try holding {
                    var purged: [UInt64] = []
                    try db.inTransaction {
                        // Overwrite the freed bytes rather than leave them in free pages.
                        try db.execute(sql: "PRAGMA secure_delete = ON")
                        let first = Schema.entryKey(logID: log.id, index: 0)
                        let last = Schema.entryKey(logID: log.id, index: (1 << Schema.indexBits) - 1)
                        for key in candidates.map(\.key) where key >= first && key <= last {
                            guard let row = try Row.fetchOne(db, sql: "SELECT header, payload FROM entries WHERE key = ? AND payload IS NOT NULL", arguments: [key]) else { continue }
                            let header = try EntryHeader(decoding: Array(row[0] as Data))
                            guard labels.contains(header.classification), !keep(header, Array(row[1] as Data)) else { continue }
                            try db.execute(sql: "UPDATE entries SET salt = NULL, payload = NULL WHERE key = ?", arguments: [key])
                            purged.append(header.index)
                        }
                        return .commit
                    }
                    return purged.sorted()
                }
            } }
            return purged
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "cannot purge payloads of \(log.name)", cause: UnderlyingError("\(error)"))
        }
    }
}

/// An entry of a copy whose payload a purge may clear: its row and its index in the log.
public struct PurgeCandidate: Sendable, Equatable {
    let key: Int64
    public let index: UInt64
}

/// An entry as stored, to be sent on: its header bytes and, unless it is a stub here, its payload.
public struct StoredEntryBytes: Sendable {
    public let headerBytes: [UInt8]
    public let payload: EntryPayload?

    /// The entry decoded and checked as a receiver checks it (the payload's commitment
    /// recomputed, not the one taken from the header).
    public func decoded() throws(LedgerError) -> Entry {
        let payload = try payload.map { p throws(LedgerError) in try EntryPayload(salt: p.salt, bytes: p.bytes) }
        return try Entry(headerBytes: headerBytes, payload: payload)
    }
}

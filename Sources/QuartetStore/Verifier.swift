import Foundation
import GRDB
import QuartetLedger

/// One thing `verify` found wrong.
public struct VerificationProblem: Sendable, Equatable, CustomStringConvertible {
    /// The log, or nil for the database as a whole.
    public let log: String?
    /// The first entry index affected, when one can be named.
    public let index: UInt64?
    /// What does not match.
    public let message: String

    public init(log: String?, index: UInt64?, message: String) {
        self.log = log
        self.index = index
        self.message = message
    }

    public var description: String {
        switch (log, index) {
        case let (log?, index?): return "log \(log): index \(index): \(message)"
        case let (log?, nil): return "log \(log): \(message)"
        default: return message
        }
    }
}

/// What `verify` checked for one log.
public struct LogVerification: Sendable, Equatable {
    public let log: String
    public let entries: UInt64
    public let checkpoints: Int
    public let root: Hash
}

/// The result of re-checking a data directory from its bytes.
public struct VerificationReport: Sendable, Equatable {
    public var logs: [LogVerification] = []
    public var problems: [VerificationProblem] = []
    public init() {}
    public var isValid: Bool { problems.isEmpty }
}

extension LedgerStore {
    /// Re-reads every log from its stored bytes: decodes every header, checks every payload
    /// against its commitment, recomputes every leaf hash and every stored subtree hash, the
    /// root at every stored checkpoint, and every checkpoint's signature against the log's key.
    /// Reports the first problem of each log with the first bad index.
    public func verify() -> VerificationReport {
        var report = VerificationReport()
        do {
            try pool.read { db in
                let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                if integrity != ["ok"] {
                    report.problems.append(VerificationProblem(log: nil, index: nil, message: "SQLite integrity check: \(integrity.prefix(5).joined(separator: "; "))"))
                }
                report.problems += try Self.foreignObjects(db)
                // Rows of other types or sizes than Quartet writes are reported, and nothing is
                // read further (the reads below take the types as written).
                let shapes = try Self.columnShapes(db)
                guard shapes.isEmpty else {
                    report.problems += shapes
                    return
                }
                let lost = directory.lostPayloads()
                for log in try Self.fetchLogs(db) {
                    // The database must not be able to vouch for itself: an own log's key in force
                    // (the registered key after its rotations) has to be the public half of the
                    // signing key file (or of the next key's, a rotation a crash interrupted,
                    // which a start finishes). A key file that cannot be read is `backup`'s to
                    // refuse.
                    let chain = log.isOwn ? try? Self.keyChain(db, log) : nil
                    if log.isOwn, let key = try? directory.readSigningKey(log: log.name), key.publicKey != (chain?.current ?? log.publicKey),
                       chain.flatMap({ try? directory.keyInForce(log: log.name, chain: $0) }) == nil {
                        report.problems.append(VerificationProblem(log: log.name, index: nil,
                            message: "the public key in the database is not that of \(directory.keyPath(log: log.name))"))
                        continue
                    }
                    do {
                        report.logs.append(try Self.verifyLog(db, log, lost: log.isOwn ? lost[log.name] ?? [] : []))
                    } catch let problem as VerificationProblem {
                        report.problems.append(problem)
                    } catch {
                        report.problems.append(VerificationProblem(log: log.name, index: nil, message: "cannot read: \(error)"))
                    }
                }
            }
        } catch {
            report.problems.append(VerificationProblem(log: nil, index: nil, message: "cannot read \(directory.databasePath): \(error)"))
        }
        return report
    }

    /// What Quartet did not put in the database: any schema object but its own tables (a
    /// trigger could rewrite rows as they are read or written, a view or an extra table could
    /// stand in for them), meta rows it does not write, and rows of entries, subtree hashes or
    /// checkpoints that belong to no registered log.
    static func foreignObjects(_ db: Database) throws -> [VerificationProblem] {
        var problems: [VerificationProblem] = []
        let expected: Set<String> = ["table meta", "table logs", "table entries", "table nodes", "table checkpoints", "table grdb_migrations", "table log_keys"]
        for row in try Row.fetchAll(db, sql: "SELECT type, name FROM sqlite_master ORDER BY type, name") {
            let type: String = row["type"], name: String = row["name"]
            if expected.contains("\(type) \(name)") { continue }
            if type == "index" && name.hasPrefix("sqlite_autoindex_") { continue }
            problems.append(VerificationProblem(log: nil, index: nil, message: "the database holds a \(type) Quartet did not make: \(name)"))
        }
        let migrations = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier")
        if migrations != ["v1", "v2"] {
            problems.append(VerificationProblem(log: nil, index: nil, message: "unexpected schema migrations: \(migrations.joined(separator: ", "))"))
        }
        let meta = try String.fetchAll(db, sql: "SELECT key FROM meta ORDER BY key")
        if meta != ["format_version"] {
            problems.append(VerificationProblem(log: nil, index: nil, message: "meta holds keys Quartet does not write: \(meta.filter { $0 != "format_version" }.prefix(5).joined(separator: ", "))"))
        }
        let orphans: [(String, String)] = [
            ("entries", "SELECT count(*) FROM entries WHERE (key >> \(Schema.indexBits)) NOT IN (SELECT id FROM logs)"),
            ("subtree hashes", "SELECT count(*) FROM nodes WHERE log_id NOT IN (SELECT id FROM logs)"),
            ("checkpoints", "SELECT count(*) FROM checkpoints WHERE log_id NOT IN (SELECT id FROM logs)"),
        ]
        for (what, sql) in orphans {
            let n = try Int.fetchOne(db, sql: sql) ?? 0
            if n > 0 { problems.append(VerificationProblem(log: nil, index: nil, message: "\(n) \(what) belong to no registered log")) }
        }
        return problems
    }

    /// Rows whose columns are not of the type and size Quartet writes (someone with the disk
    /// edited them: a text for an integer, a gigabyte blob for a payload), per table.
    static func columnShapes(_ db: Database) throws -> [VerificationProblem] {
        let checks: [(String, String)] = [
            ("logs", "typeof(id) != 'integer' OR typeof(name) != 'text' OR length(name) > 256 OR typeof(origin) != 'text' OR length(origin) > 1024 OR typeof(public_key) != 'blob' OR length(public_key) != 32 OR typeof(own) != 'integer' OR own NOT IN (0, 1) OR typeof(created_ms) != 'integer'"),
            ("entries", "typeof(header) != 'blob' OR length(header) > 65536 OR typeof(leaf_hash) != 'blob' OR length(leaf_hash) != 32 OR (salt IS NOT NULL AND (typeof(salt) != 'blob' OR length(salt) != 32)) OR (payload IS NOT NULL AND (typeof(payload) != 'blob' OR length(payload) > \(EntryHeader.maxPayloadLength)))"),
            ("nodes", "typeof(level) != 'integer' OR level < 0 OR level > 64 OR typeof(idx) != 'integer' OR idx < 0 OR typeof(hash) != 'blob' OR length(hash) != 32"),
            ("checkpoints", "typeof(size) != 'integer' OR size < 0 OR typeof(root) != 'blob' OR length(root) != 32 OR typeof(note) != 'text' OR length(note) > \(SignedNote.maxLength) OR typeof(time_ms) != 'integer'"),
            ("log_keys", "typeof(log_id) != 'integer' OR typeof(rotation_index) != 'integer' OR rotation_index < 0 OR typeof(public_key) != 'blob' OR length(public_key) != 32"),
            ("meta", "typeof(value) != 'text' OR length(value) > 1024"),
        ]
        var problems: [VerificationProblem] = []
        for (table, bad) in checks {
            let n = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table) WHERE \(bad)") ?? 0
            if n > 0 { problems.append(VerificationProblem(log: nil, index: nil, message: "\(n) row\(n == 1 ? "" : "s") of \(table) hold values of other types or sizes than Quartet writes")) }
        }
        return problems
    }

    /// - Parameter lost: own-log indices whose payloads are recorded as lost (`LostPayloads.swift`).
    private static func verifyLog(_ db: Database, _ log: LogInfo, lost: Set<UInt64>) throws -> LogVerification {
        func fail(_ index: UInt64?, _ message: String) -> VerificationProblem {
            VerificationProblem(log: log.name, index: index, message: message)
        }
        // The log's keys: the pinned key and each rotation recorded, checked from its entry.
        let chain: KeyChain
        do { chain = try LedgerStore.keyChain(db, log) } catch {
            throw fail(nil, "\((error as? StoreError)?.cause.map { "\($0)" } ?? "\(error)")")
        }
        let recorded = Set(chain.rotations.map(\.index))
        // Checkpoints, checked for signature (by the key in force at their size) and form up
        // front, then matched against roots.
        let checkpointRows = try Row.fetchAll(db, sql: "SELECT size, root, note FROM checkpoints WHERE log_id = ? ORDER BY size", arguments: [log.id])
        var checkpoints: [(size: UInt64, root: Hash)] = []
        for row in checkpointRows {
            let size = UInt64(row["size"] as Int64)
            let checkpoint: Checkpoint
            do { checkpoint = try chain.verifyCheckpoint(try SignedNote(parsing: row["note"])).checkpoint } catch {
                throw fail(size > 0 ? size - 1 : nil, "checkpoint at size \(size): \(error)")
            }
            guard checkpoint.size == size, Array(row["root"] as Data) == checkpoint.root.bytes else {
                throw fail(size > 0 ? size - 1 : nil, "checkpoint at size \(size): stored size or root differs from the signed note")
            }
            checkpoints.append((size, checkpoint.root))
        }
        let expectedSize = checkpoints.last?.size ?? 0

        var frontier = MerkleFrontier()
        var nextCheckpoint = 0
        let mask = (UInt64(1) << Schema.indexBits) - 1
        let lastKey = Schema.entryKey(logID: log.id, index: mask)
        var cursorKey = Schema.entryKey(logID: log.id, index: 0)
        let chunk = 4096
        while true {
            let rows: [Row]
            do {
                rows = try Row.fetchAll(db, sql: "SELECT key, header, salt, payload, leaf_hash FROM entries WHERE key BETWEEN ? AND ? ORDER BY key LIMIT ?",
                                        arguments: [cursorKey, lastKey, chunk])
            } catch {
                throw fail(frontier.size, "cannot read the entries from here on: \(error)")
            }
            // Stored subtree hashes for the leaves in this chunk, to compare as they are recomputed.
            for row in rows {
                let index = UInt64(bitPattern: row["key"] as Int64) & mask
                guard index == frontier.size else {
                    throw fail(frontier.size, "entry missing (the next stored entry is \(index))")
                }
                let entry: Entry
                do { entry = try decodeEntry(row, log: log) } catch let error as StoreError {
                    throw fail(index, "\(error.cause.map { "\($0)" } ?? error.message)")
                }
                let hasSalt = (row["salt"] as Data?) != nil, hasPayload = (row["payload"] as Data?) != nil
                guard hasSalt == hasPayload else { throw fail(index, "a payload without its salt, or a salt without its payload") }
                // The writer holds every payload of its own log; a missing one was deleted,
                // unless it is recorded as lost when the log came back from peers.
                guard !log.isOwn || hasPayload || lost.contains(index) else { throw fail(index, "the payload of an entry of this node's own log is missing") }
                guard Array(row["leaf_hash"] as Data) == entry.leafHash.bytes else {
                    throw fail(index, "stored leaf hash does not match the header")
                }
                // Every rotation entry is a recorded key, and every recorded key is an entry (above).
                if entry.header.type == KeyRotation.entryType && !recorded.contains(index) {
                    throw fail(index, "a key.rotation entry that is not among the log's keys (forged, or its key table was edited)")
                }
                var mismatch: (Int, UInt64)?
                frontier.append(entry.leafHash) { level, nodeIndex, hash in
                    guard mismatch == nil, level > 0, level % Schema.nodeLevelStride == 0 else { return }
                    let stored = try? Data.fetchOne(db, sql: "SELECT hash FROM nodes WHERE log_id = ? AND level = ? AND idx = ?",
                                                   arguments: [log.id, level, Int64(nodeIndex)])
                    if stored.flatMap({ $0 }).map(Array.init) != hash.bytes { mismatch = (level, nodeIndex) }
                }
                if let (level, nodeIndex) = mismatch {
                    throw fail(index, "stored subtree hash at level \(level) index \(nodeIndex) is missing or wrong")
                }
                while nextCheckpoint < checkpoints.count && checkpoints[nextCheckpoint].size == frontier.size {
                    guard checkpoints[nextCheckpoint].root == frontier.root else {
                        throw fail(index, "the root of the first \(frontier.size) entries differs from the signed checkpoint")
                    }
                    nextCheckpoint += 1
                }
            }
            if rows.count < chunk { break }
            cursorKey = Schema.entryKey(logID: log.id, index: frontier.size)
        }
        guard frontier.size == expectedSize else {
            if frontier.size < expectedSize {
                throw fail(frontier.size, "entries end at \(frontier.size) but the latest checkpoint covers \(expectedSize)")
            }
            throw fail(expectedSize, "\(frontier.size - expectedSize) entries beyond the latest checkpoint (\(expectedSize))")
        }
        if nextCheckpoint < checkpoints.count {
            let size = checkpoints[nextCheckpoint].size
            throw fail(size > 0 ? size - 1 : nil, "no entries for the checkpoint at size \(size)")
        }
        // Subtree hashes of leaves the log does not have (rows ahead of the log).
        let ahead = try Int.fetchOne(db, sql: "SELECT count(*) FROM nodes WHERE log_id = ? AND (level < 0 OR level > 40 OR idx < 0 OR idx >= (? >> level))",
                                     arguments: [log.id, Int64(clamping: frontier.size)]) ?? 0
        if ahead > 0 { throw fail(frontier.size, "\(ahead) stored subtree hashes cover entries the log does not have") }
        return LogVerification(log: log.name, entries: frontier.size, checkpoints: checkpoints.count, root: frontier.root)
    }
}

extension VerificationProblem: Error {}

import Foundation
import GRDB
import QuartetCrypto
import QuartetLedger
import Synchronization

/// What this node keeps as a witness (C2SP tlog-witness) and as a log gathering cosignatures, in
/// its own SQLite file, `witness/witness.sqlite` (WAL, `synchronous=FULL`), beside the witness key
/// `witness/key.pem`:
/// - `latest`: per origin, the checkpoint this witness last cosigned. A witness that lost it must
///   not witness again under the same key (it could cosign a fork); docs/witness.md says how to
///   retire and replace it.
/// - `evidence`: signed checkpoints that conflict with what it cosigned (a split view).
/// - `cosignatures`: verified cosignature lines other witnesses gave this node's checkpoints.
/// (Over ~350 lines: the witness's durable state and the cosignatures a log gathers share one
/// schema, its migrations and its pruning; split, the two would each restate them.)
public final class WitnessStore: Sendable {
    /// The witness's state (`latest`, `evidence`): WAL, `synchronous=FULL`, durable before an answer.
    private let queue: DatabaseQueue
    /// Cosignatures gathered (`witness/cosignatures.sqlite`): WAL, `synchronous=NORMAL`. One lost
    /// in a power cut is asked for again (a witness cosigns the checkpoint it holds again).
    private let gathered: DatabaseQueue
    /// Cosignatures kept per log since its last pruning of old ones (a count shared by all logs
    /// pruned only the log whose line was the thousandth: a quiet log beside a busy one by
    /// chance). Logs held or cosigned only: the federation's.
    private let keptSincePruning = Mutex<[String: Int]>([:])
    /// What was last cosigned per origin, as stored (nil inside: read, none stored); an origin
    /// absent is read from the file (`witness`).
    private let known = Mutex<[String: Witnessing.Latest?]>([:])
    /// The time of the last cosignature issued per origin (ms; from the stored `time_ms` once
    /// read): cosignature times of one origin do not go back (`maxCarriedMillis` aside).
    private let issued = Mutex<[String: UInt64]>([:])
    public let path: String

    /// How far ahead of the clock the last cosignature's time is carried (ms): the skew a
    /// collector accepts (`WitnessCollector.maxClockSkewSeconds`, 10 minutes).
    static let maxCarriedMillis: UInt64 = 600_000

    /// A checkpoint accepted, and the time its cosignature is to carry.
    public struct Accepted: Sendable, Equatable {
        public let checkpoint: Checkpoint
        public let timeMillis: UInt64
        /// Whether the checkpoint was written (false: the one stored already, written nothing).
        public var stored = false
    }

    /// The witness key name of the node writing the log of origin `origin`.
    public static func keyName(origin: String) -> String { "\(origin)/witness" }

    /// The mark left when a witness key was found without its state (docs/witness.md).
    public static func lostMarkerPath(_ directory: DataDirectory) -> String { directory.url.appendingPathComponent("witness/STATE-LOST").path }

    /// The witness key file of `directory`.
    public static func keyPath(_ directory: DataDirectory) -> String { directory.url.appendingPathComponent("witness/key.pem").path }
    public static func databasePath(_ directory: DataDirectory) -> String { directory.url.appendingPathComponent("witness/witness.sqlite").path }
    /// `journal_size_limit` of the witness's state and of the gathered cosignatures (tests).
    func walSizeLimits() throws -> [Int] {
        try [queue, gathered].map { try $0.read { try Int.fetchOne($0, sql: "PRAGMA journal_size_limit") ?? -1 } }
    }

    public static func gatheredPath(_ directory: DataDirectory) -> String { directory.url.appendingPathComponent("witness/cosignatures.sqlite").path }

    /// Opens (creating if needed) the witness database of `directory`.
    public init(_ directory: DataDirectory) throws(StoreError) {
        let folder = directory.url.appendingPathComponent("witness").path
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700]) } catch {
            throw StoreError(.io, "cannot create \(folder)", cause: UnderlyingError(error.localizedDescription))
        }
        path = Self.databasePath(directory)
        do {
            queue = try LedgerStore.walQueue(path, synchronous: "FULL")
            gathered = try LedgerStore.walQueue(Self.gatheredPath(directory), synchronous: "NORMAL")
            try gathered.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS cosignatures (
                        log TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        witness TEXT NOT NULL,
                        line TEXT NOT NULL,
                        time INTEGER NOT NULL,
                        PRIMARY KEY (log, size, witness)
                    ) WITHOUT ROWID;
                    """)
                // One witness's newest rows of a log (`?cosigned-by=`, a reader's request): by the
                // primary key (log, size, witness) that was a walk of every row of the log.
                try db.execute(sql: "CREATE INDEX IF NOT EXISTS cosignatures_by_witness ON cosignatures (log, witness, size)")
                // The note a line is over, when it is not the one this node's copy holds at that
                // size (a log may sign two notes of one tree: same size and root, another time);
                // NULL for the copy's own note, the usual case.
                if try !Row.fetchAll(db, sql: "PRAGMA table_info(cosignatures)").contains(where: { ($0["name"] as String?) == "note" }) {
                    try db.execute(sql: "ALTER TABLE cosignatures ADD COLUMN note TEXT")
                }
            }
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS latest (
                        origin TEXT PRIMARY KEY NOT NULL,
                        size INTEGER NOT NULL,
                        root BLOB NOT NULL,
                        note TEXT NOT NULL,
                        time_ms INTEGER NOT NULL
                    );
                    CREATE TABLE IF NOT EXISTS bound_key (
                        one INTEGER PRIMARY KEY CHECK (one = 1),
                        public_key BLOB NOT NULL
                    );
                    CREATE TABLE IF NOT EXISTS evidence (
                        origin TEXT NOT NULL,
                        size INTEGER NOT NULL,
                        cosigned TEXT NOT NULL,
                        conflicting TEXT NOT NULL,
                        time_ms INTEGER NOT NULL,
                        PRIMARY KEY (origin, size, conflicting)
                    ) WITHOUT ROWID;
                    """)
            }
        } catch {
            throw StoreError(.corrupt, "cannot open the witness database \(path)", cause: error)
        }
    }

    /// Reads the witness key, or creates one (mode 0600) if there is none yet.
    public static func witnessKey(_ directory: DataDirectory) throws(StoreError) -> Ed25519PrivateKey {
        let path = keyPath(directory)
        if FileManager.default.fileExists(atPath: path) { return try directory.readSigningKey(path: path, log: "witness") }
        let key: Ed25519PrivateKey
        do { key = try Ed25519PrivateKey() } catch { throw StoreError(.key, "cannot make a witness key", cause: error) }
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreError(.io, "cannot create the witness folder of \(directory.url.path)", cause: UnderlyingError(error.localizedDescription))
        }
        DataDirectory.syncDirectory(directory.url.path)
        // The state is made with the key and bound to it, durably, before the key file is
        // written: a key without its state, or with a state bound to another key, is a witness
        // that lost its state, and a crash between the two must not make one (a state bound to a
        // key never written is bound again to the next key made). A new key starts clean (any
        // state already there only makes it stricter).
        if unlink(lostMarkerPath(directory)) == 0 { DataDirectory.syncDirectory((path as NSString).deletingLastPathComponent) }
        try WitnessStore(directory).bind(to: key.publicKey, replacing: true)
        try directory.writeSigningKey(key, log: "witness", path: path)
        return key
    }

    /// The witness key this state belongs to (nil: none recorded: a state made before keys were
    /// recorded in it).
    public func boundKey() throws(StoreError) -> Ed25519PublicKey? {
        do {
            guard let raw = try queue.read({ db in try Data.fetchOne(db, sql: "SELECT public_key FROM bound_key WHERE one = 1") }) else { return nil }
            return try Ed25519PublicKey(rawRepresentation: [UInt8](raw))
        } catch {
            throw StoreError(.corrupt, "cannot read the witness key the state \(path) belongs to", cause: error)
        }
    }

    /// Records that this state is `key`'s (durably): kept if one is recorded, unless `replacing`.
    public func bind(to key: Ed25519PublicKey, replacing: Bool = false) throws(StoreError) {
        do {
            try queue.write { db in
                try db.execute(sql: "INSERT \(replacing ? "OR REPLACE" : "OR IGNORE") INTO bound_key (one, public_key) VALUES (1, ?)",
                               arguments: [Data(key.rawRepresentation)])
            }
        } catch {
            throw StoreError(.io, "cannot record the witness key in \(path)", cause: error)
        }
    }

    /// Every checkpoint this witness last cosigned, per origin, and the time its cosignature
    /// carried (ms), in one read.
    public func allLatest() throws(StoreError) -> [(origin: String, latest: Witnessing.Latest, timeMillis: UInt64)] {
        do {
            return try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT origin, size, root, note, time_ms FROM latest ORDER BY origin").map { row in
                    let size: Int64 = row["size"], time: Int64 = row["time_ms"]
                    return (row["origin"], Witnessing.Latest(size: UInt64(max(0, size)), root: try Hash([UInt8](row["root"] as Data)), note: try SignedNote(parsing: row["note"])),
                            UInt64(max(0, time)))
                }
            }
        } catch { throw StoreError(.io, "cannot read the witness database", cause: error) }
    }

    /// Raised at every change of what this witness last cosigned (`witness`, `recall`): what is
    /// made of it can be kept until it moves.
    public var latestGeneration: Int { generation.load(ordering: .acquiring) }
    private let generation = Atomic<Int>(0)

    /// The checkpoint last cosigned for `origin`.
    public func latest(_ origin: String) throws(StoreError) -> Witnessing.Latest? {
        do { return try queue.read { db in try Self.latest(db, origin)?.latest } } catch {
            throw StoreError(.io, "cannot read the witness database", cause: error)
        }
    }

    /// The checkpoint last cosigned for `origin` and the time it was stored (ms), in one read.
    static func latest(_ db: Database, _ origin: String) throws -> (latest: Witnessing.Latest, timeMillis: UInt64)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT size, root, note, time_ms FROM latest WHERE origin = ?", arguments: [origin]) else { return nil }
        let size: Int64 = row["size"], time: Int64 = row["time_ms"]
        return (Witnessing.Latest(size: UInt64(size), root: try Hash([UInt8](row["root"] as Data)), note: try SignedNote(parsing: row["note"])),
                UInt64(max(0, time)))
    }

    /// Runs `decide` on what is stored for `origin` and stores the checkpoint it accepts, with
    /// `note` (the signed checkpoint as submitted, kept whole so that a later conflict has both
    /// signed sides), durably before this returns. Requests are serialized on the witness
    /// database's connection from the read of what is stored to the commit, so no two interleave
    /// between the check and the store (the spec's rollback race). A refusal carrying a
    /// conflicting checkpoint is kept as evidence. The same checkpoint again writes nothing.
    ///
    /// What was last cosigned per origin is read from the file once and then kept in memory:
    /// only this method writes it, and the data directory's lock keeps other processes out.
    ///
    /// The cosignature's time is read from `clock` once the decision is made, in the same
    /// serialized section, and is not before the last one issued for the origin (unless that is
    /// more than `maxCarriedMillis` ahead of the clock): a witness states "as of t, the largest
    /// size I have seen", so a request decided later must not carry an earlier time (one that
    /// arrived first and waited, or a clock stepped back).
    public func witness(origin: String, note: SignedNote, clock: () -> UInt64,
                        decide: (Witnessing.Latest?) throws(Witnessing.Refusal) -> Checkpoint) throws -> Result<Accepted, Witnessing.Refusal> {
        try queue.writeWithoutTransaction { db -> Result<Accepted, Witnessing.Refusal> in
            let latest: Witnessing.Latest?
            if let kept = known.withLock({ $0[origin] }) { latest = kept } else {
                let row = try Self.latest(db, origin)
                latest = row?.latest
                known.withLock { $0[origin] = .some(latest) }
                if let time = row?.timeMillis { issued.withLock { $0[origin] = max($0[origin] ?? 0, time) } }
            }
            let decision = Result { () throws(Witnessing.Refusal) -> Checkpoint in try decide(latest) }
            var stored = false
            // The last time issued is carried only while it is within the skew a collector takes
            // (10 minutes): a clock that ran far ahead once (a VM booted a day fast) must not date
            // every later cosignature ahead, where every collector refuses it, until then.
            let clockNow = clock()
            let floor = issued.withLock { $0[origin] } ?? 0
            let nowMillis = floor > clockNow && floor - clockNow <= Self.maxCarriedMillis ? floor : clockNow
            do {
                switch decision {
                case .success(let checkpoint):
                    guard latest?.size != checkpoint.size || latest?.root != checkpoint.root else { break }
                    try Self.storeLatest(db, origin: origin, checkpoint: checkpoint, note: note, timeMillis: nowMillis)
                    stored = true
                    generation.add(1, ordering: .releasing)
                    known.withLock { $0[origin] = .some(Witnessing.Latest(size: checkpoint.size, root: checkpoint.root, note: note)) }
                case .failure(let refusal):
                    // One conflict proves the split view; of a log that keeps signing them, the first 100 are kept.
                    guard let conflicting = refusal.conflicting, let latest else { break }
                    try RawStatement.transaction(db) {
                        guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM evidence WHERE origin = ?", arguments: [origin]) ?? 0 < 100 else { return }
                        try db.execute(sql: "INSERT OR IGNORE INTO evidence (origin, size, cosigned, conflicting, time_ms) VALUES (?, ?, ?, ?, ?)",
                                       arguments: [origin, Int64(latest.size), latest.note.serialized, conflicting.serialized, Int64(nowMillis)])
                    }
                }
            } catch {
                // What is stored is read again before the next request for this origin.
                known.withLock { $0[origin] = nil }
                throw error
            }
            // Once stored (a failed write threw above, and moves nothing).
            if case .success = decision { issued.withLock { $0[origin] = nowMillis } }
            return decision.map { Accepted(checkpoint: $0, timeMillis: nowMillis, stored: stored) }
        }
    }

    /// Stores `checkpoint` (signed `note`) as what the witness last cosigned of `origin`.
    private static func storeLatest(_ db: Database, origin: String, checkpoint: Checkpoint, note: SignedNote, timeMillis: UInt64) throws {
        try RawStatement.transaction(db) {
            try RawStatement(db, sql: """
                INSERT INTO latest (origin, size, root, note, time_ms) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, time_ms = excluded.time_ms
                """).execute(.text(origin), .integer(Int64(clamping: checkpoint.size)), .blob(checkpoint.root.bytes), .text(note.serialized),
                             .integer(Int64(clamping: timeMillis)))
        }
    }

    /// Raises what this witness last cosigned of `origin` to `checkpoint` (signed `note`), which
    /// a peer showed it had cosigned at `timeMillis` (its own cosignature, checked by the caller):
    /// a state restored from an older snapshot learns what it cosigned since. Nothing changes
    /// when the state holds as much already. Returns the size held before, when raised.
    public func recall(origin: String, note: SignedNote, checkpoint: Checkpoint, timeMillis: UInt64) throws(StoreError) -> UInt64?? {
        guard checkpoint.size <= UInt64(Int64.max), timeMillis <= UInt64(Int64.max) else { return nil }
        do {
            return try queue.writeWithoutTransaction { db -> UInt64?? in
                let held = try Self.latest(db, origin)
                if let held, held.latest.size >= checkpoint.size { return nil }
                try Self.storeLatest(db, origin: origin, checkpoint: checkpoint, note: note, timeMillis: max(timeMillis, held?.timeMillis ?? 0))
                generation.add(1, ordering: .releasing)
                known.withLock { $0[origin] = .some(Witnessing.Latest(size: checkpoint.size, root: checkpoint.root, note: note)) }
                issued.withLock { $0[origin] = max($0[origin] ?? 0, timeMillis, held?.timeMillis ?? 0) }
                return .some(held?.latest.size)
            }
        } catch {
            known.withLock { $0[origin] = nil }
            throw StoreError(.io, "cannot raise what the witness cosigned of \(origin)", cause: error)
        }
    }

    /// Keeps verified cosignature `line` (serialized, without its newline) of witness `witness`
    /// on `log`'s checkpoint at `size`.
    /// `note`: the signed note the line is over (its text and the log's line), when it is not
    /// the note this node's copy holds at that size (nil).
    /// `now` (POSIX seconds, this node's clock): a row dated more than `aheadReplaced` past it
    /// is replaced by any line, so a line dated by a clock that ran fast (this node's own, or a
    /// witness's within the skew) does not keep every honest later line out until then.
    public func keepCosignature(log: String, size: UInt64, witness: String, line: String, time: UInt64, note: String? = nil,
                                now: UInt64 = UInt64(max(0, Date().timeIntervalSince1970))) throws(StoreError) {
        guard size <= UInt64(Int64.max), time <= UInt64(Int64.max) else { throw StoreError(.invalidInput, "a cosignature of size \(size) at time \(time) is beyond what is stored") }
        let ahead = Int64(clamping: now > UInt64(Int64.max) - Self.aheadReplaced ? UInt64(Int64.max) : now + Self.aheadReplaced)
        do {
            // Only the newest sizes are served (`witnessed`: 20), and each witness's newest is
            // read (`newestCosigned`); every 1,000 kept of a log, it drops what is below its
            // newest `keptSizes` sizes or 100,000 sizes or more below this one, each witness's
            // newest row aside. A count, not only a distance: a log committing one entry at a
            // time kept 100,000 sizes × its witnesses before, every node reading them all.
            let prune = keptSincePruning.withLock { kept in
                kept[log, default: 0] += 1
                return kept[log]! % 1000 == 0
            }
            try gathered.writeWithoutTransaction { db in
                try RawStatement.transaction(db) {
                    // The newest line of a witness for a size stays: a witness cosigning the same
                    // checkpoint again (a quiet log's, `WitnessCollector.due`) dates it later, and
                    // an older line read back (from the witness's own record, a peer) must not
                    // put the older time back — unless the kept one is dated well ahead of now.
                    try RawStatement(db, sql: """
                        INSERT INTO cosignatures (log, size, witness, line, time, note) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT (log, size, witness) DO UPDATE SET line = excluded.line, time = excluded.time, note = excluded.note
                        WHERE excluded.time >= cosignatures.time OR cosignatures.time > ?
                        """)
                        .execute(.text(log), .integer(Int64(size)), .text(witness), .text(line), .integer(Int64(time)), note.map { .text($0) } ?? .null,
                                 .integer(ahead))
                }
                // The line is kept (committed above) whether or not pruning goes through: a
                // failed prune is tried again 1,000 lines later.
                if prune { try? Self.prune(db, log: log, below: size > 100_000 ? Int64(size - 100_000) : 0) }
            }
        } catch { throw StoreError(.io, "cannot write the witness database", cause: error) }
    }

    /// How far ahead of this node's clock a kept line may be dated and still keep older ones out
    /// (seconds: the witnesses' allowed skew, `WitnessCollector.maxClockSkewSeconds`).
    public static let aheadReplaced: UInt64 = 600

    /// The cosignature lines kept for `log` at `size`, by witness: those over the note this
    /// node's copy holds at that size (served with it).
    public func cosignatures(log: String, size: UInt64) throws(StoreError) -> [String: (line: String, time: UInt64)] {
        do {
            return try gathered.read { db in
                var out: [String: (line: String, time: UInt64)] = [:]
                for row in try Row.fetchAll(db.cachedStatement(sql: "SELECT witness, line, time FROM cosignatures WHERE log = ? AND size = ? AND note IS NULL"), arguments: [log, Int64(size)]) {
                    out[row["witness"]] = (row["line"], UInt64(row["time"] as Int64))
                }
                return out
            }
        } catch { throw StoreError(.io, "cannot read the witness database", cause: error) }
    }

    /// The newest cosignatures of `log` by `witness` (at most `limit`), newest first, each with
    /// the note it is over when that is not the copy's (`keepCosignature`): a range of the
    /// index read backwards, whatever else the log holds.
    public func cosignatures(log: String, by witness: String, limit: Int = 8) throws(StoreError) -> [(size: UInt64, line: String, note: String?)] {
        do {
            return try gathered.read { db in
                try Row.fetchAll(db, sql: "SELECT size, line, note FROM cosignatures WHERE log = ? AND witness = ? ORDER BY size DESC LIMIT ?",
                                 arguments: [log, witness, limit]).map { (UInt64(max(0, $0["size"] as Int64)), $0["line"], $0["note"]) }
            }
        } catch { throw StoreError(.io, "cannot read the witness database", cause: error) }
    }

    /// The newest sizes of `log` with cosignatures kept (at most `limit`), newest first: which
    /// witnesses cosigned each, and the newest cosignature's time; the cosignatures of the
    /// witnesses in `excluding` left out (a log's own node's, which is not one of its witnesses).
    public func witnessed(log: String, excluding: [String] = [], limit: Int = 20) throws(StoreError) -> [(size: UInt64, witnesses: [String], time: UInt64)] {
        do {
            return try gathered.read { db in
                var out: [(size: UInt64, witnesses: [String], time: UInt64)] = []
                let others = excluding.isEmpty ? "" : " AND witness NOT IN (" + excluding.map { _ in "?" }.joined(separator: ", ") + ")"
                var arguments: [any DatabaseValueConvertible] = [log]
                arguments += excluding
                arguments.append(limit)
                for row in try Row.fetchAll(db, sql: """
                    SELECT size, group_concat(witness, ' ') AS witnesses, MAX(time) AS time FROM cosignatures
                    WHERE log = ? AND note IS NULL\(others) GROUP BY size ORDER BY size DESC LIMIT ?
                    """, arguments: StatementArguments(arguments)) {
                    let names = (row["witnesses"] as String? ?? "").split(separator: " ").map(String.init).sorted()
                    out.append((UInt64(row["size"] as Int64), names, UInt64(row["time"] as Int64)))
                }
                return out
            }
        } catch { throw StoreError(.io, "cannot read the witness database", cause: error) }
    }

    /// Per witness, the largest size of `log` it cosigned (from what is kept).
    public func newestCosigned(log: String) throws(StoreError) -> [String: (size: UInt64, time: UInt64)] {
        do {
            return try gathered.read { db in try Self.newestCosigned(db, log: log) }
        } catch { throw StoreError(.io, "cannot read the witness database", cause: error) }
    }

    /// How many of a log's newest sizes with cosignatures are kept (the newest 20 are served).
    static let keptSizes = 1_000

    /// Each witness's newest row of `log`: the witnesses one at a time along the
    /// (log, witness, size) index, then that witness's largest size — a few index seeks per
    /// witness, where `GROUP BY witness` with `MAX(size)` read every row of the log.
    static func newestCosigned(_ db: Database, log: String) throws -> [String: (size: UInt64, time: UInt64)] {
        var out: [String: (size: UInt64, time: UInt64)] = [:]
        var after: String?
        // Cached statements: a refresh reads this for every member and note (preparing them
        // each time was most of a refresh's SQLite work).
        let first = try db.cachedStatement(sql: "SELECT witness FROM cosignatures INDEXED BY cosignatures_by_witness WHERE log = ? ORDER BY witness LIMIT 1")
        let next = try db.cachedStatement(sql: "SELECT witness FROM cosignatures INDEXED BY cosignatures_by_witness WHERE log = ? AND witness > ? ORDER BY witness LIMIT 1")
        let newest = try db.cachedStatement(sql: "SELECT size, time FROM cosignatures INDEXED BY cosignatures_by_witness WHERE log = ? AND witness = ? ORDER BY size DESC LIMIT 1")
        while true {
            let found = if let after { try String.fetchOne(next, arguments: [log, after]) } else { try String.fetchOne(first, arguments: [log]) }
            guard let witness = found else { break }
            if let row = try Row.fetchOne(newest, arguments: [log, witness]) {
                out[witness] = (UInt64(max(0, row["size"] as Int64)), UInt64(max(0, row["time"] as Int64)))
            }
            after = witness
        }
        return out
    }

    /// Drops `log`'s rows below its newest `keptSizes` sizes, or below `below`, keeping each
    /// witness's newest (what `newestCosigned` compares a witness's next line with).
    static func prune(_ db: Database, log: String, below: Int64) throws {
        let nth = try Int64.fetchOne(db, sql: "SELECT size FROM cosignatures WHERE log = ? GROUP BY size ORDER BY size DESC LIMIT 1 OFFSET ?",
                                     arguments: [log, keptSizes - 1]) ?? 0
        let cutoff = max(nth, below)
        guard cutoff > 0 else { return }
        let newest = try newestCosigned(db, log: log).filter { Int64($0.value.size) < cutoff }
        try db.inTransaction {
            var sql = "DELETE FROM cosignatures WHERE log = ? AND size < ?"
            var arguments: [any DatabaseValueConvertible] = [log, cutoff]
            for (witness, kept) in newest {
                sql += " AND NOT (witness = ? AND size = ?)"
                arguments += [witness, Int64(kept.size)]
            }
            try db.execute(sql: sql, arguments: StatementArguments(arguments))
            return .commit
        }
    }
}

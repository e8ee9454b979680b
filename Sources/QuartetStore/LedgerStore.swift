import Foundation
import GRDB
import GRDBSQLite
import QuartetCrypto
import QuartetLedger
import Synchronization

/// SQLite persistence of every log a node holds (GRDB, WAL, `synchronous=FULL`).
///
/// Reads may come from any thread. Appends to a log the directory owns go through a
/// `LogWriter`, which group-commits them; a process that appends holds the directory's writer
/// lock, so two processes never write one directory.
///
/// (Over ~350 lines: opening, the durability settings, the copy for backups and the log table
/// share the pool and the writer lock; reads, proofs and replica batches are extensions in
/// files of their own.)
public final class LedgerStore: Sendable {
    /// The directory's files.
    public let directory: DataDirectory

    /// The sizes of the write-ahead logs of the stores in the data directory (the ledger's and,
    /// where they exist, the witness's two), by file name: `/metrics` shows them.
    public func walSizes() -> [String: UInt64] {
        var sizes: [String: UInt64] = [:]
        let files = [directory.databasePath, WitnessStore.databasePath(directory), WitnessStore.gatheredPath(directory)]
        for file in files {
            var info = stat()
            guard stat(file + "-wal", &info) == 0 else { continue }
            sizes[(file as NSString).lastPathComponent] = UInt64(max(0, info.st_size))
        }
        return sizes
    }
    let pool: DatabasePool
    private let writerLock: WriterLock?
    /// The migration this open ran: the format the directory had and where its copy from
    /// before the migration is (nil: none ran).
    public let migration: (from: Int, backup: String)?
    /// Checkpoint notes verified on reading, not verified again while unchanged.
    let verifiedNotes = VerifiedNotes()
    /// Whether writes to the directory succeed, per path (`/readyz`, `/metrics`).
    public let writes = WriteHealth()
    /// Replica frontiers kept from one stored batch to the next.
    let replicaFrontiers = ReplicaFrontiers()
    /// Key chains a writer read, until it stores a rotation.
    let keyChains = KeyChainCache()
    /// The logs held, read once by a writer (no other process adds logs while it holds the
    /// writer lock; `addLog` here forgets them). Readers read them each time.
    private let knownLogs = Mutex<(generation: Int, logs: [LogInfo]?)>((0, nil))

    private init(directory: DataDirectory, pool: DatabasePool, writerLock: WriterLock?, migration: (from: Int, backup: String)? = nil) {
        self.directory = directory
        self.pool = pool
        self.writerLock = writerLock
        self.migration = migration
    }

    /// How to open a directory.
    public enum OpenMode: Sendable {
        /// Read and query; no appends. Does not take the writer lock.
        case reader
        /// Append to own logs; takes the writer lock.
        case writer
    }

    /// How long a connection waits for a lock another holds (SQLite's busy timeout).
    static let busyTimeoutSeconds = 10

    /// A write-ahead log is cut back to this size when it starts over (SQLite keeps a WAL at
    /// its largest otherwise, for the whole uptime: a long busy stretch whose readers kept it
    /// from starting over left it so on disk).
    public static let walSizeLimit = 64 << 20

    static func configuration() -> Configuration {
        var config = Configuration()
        config.prepareDatabase { db in
            // An append acknowledged to a caller must survive power loss, not only a crash.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.walSizeLimit)")
        }
        config.busyMode = .timeout(TimeInterval(Self.busyTimeoutSeconds))
        // Readers at once: the blocking pool's threads (`ReadWork`, one a core), the event
        // loops' short reads, the engine's and the view's queues, the witness. GRDB's default
        // of 5 let a few long page reads keep an event loop waiting for a connection.
        config.maximumReaderCount = max(12, 3 * ProcessInfo.processInfo.activeProcessorCount + 4)
        return config
    }

    /// Creates a new data directory (or opens an existing one of this format for writing).
    public static func create(_ directory: DataDirectory) throws(StoreError) -> LedgerStore {
        try directory.create()
        let lock = try WriterLock(path: directory.lockPath)
        directory.removePartialCopies()
        let isNew = !directory.exists
        let pool = try openPool(directory)
        if isNew {
            // SQLite gives its -wal and -shm files the database file's mode.
            chmod(directory.databasePath, 0o600)
        }
        if let version = try checkFormat(pool, directory: directory, allowEmpty: true), version < Schema.formatVersion {
            let backup = try migrate(pool, directory: directory, from: version)
            return LedgerStore(directory: directory, pool: pool, writerLock: lock, migration: (version, backup))
        }
        do { try Schema.migrator.migrate(pool) } catch {
            throw StoreError(.io, "cannot create the schema in \(directory.databasePath)", cause: error)
        }
        return LedgerStore(directory: directory, pool: pool, writerLock: lock)
    }

    /// A small SQLite file of the data directory's beside the ledger (the witness's state, the
    /// submissions): WAL, `synchronous` as given (`FULL` for what must be durable before an
    /// answer), its WAL bounded as the ledger's, a 10 s wait for a lock.
    static func walQueue(_ path: String, synchronous: String) throws -> DatabaseQueue {
        var config = Configuration()
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA journal_size_limit = \(walSizeLimit)")
        }
        config.busyMode = .timeout(10)
        return try DatabaseQueue(path: path, configuration: config)
    }

    /// Opens an existing data directory.
    public static func open(_ directory: DataDirectory, mode: OpenMode = .reader) throws(StoreError) -> LedgerStore {
        guard FileManager.default.fileExists(atPath: directory.url.path) else {
            throw StoreError(.notADataDirectory, "no data directory at \(directory.url.path)")
        }
        guard directory.exists else {
            throw StoreError(.notADataDirectory, "\(directory.url.path) is not a Quartet data directory (no quartet.sqlite); create one with `quartet init`")
        }
        let lock: WriterLock? = mode == .writer ? try WriterLock(path: directory.lockPath) : nil
        if lock != nil { directory.removePartialCopies() }
        // A reader opens the database read-only: it never checkpoints the write-ahead log into
        // the main file nor removes it (`verify` on a damaged directory changed the bytes it was
        // asked to check, and lost the separate WAL a recovery might want). (SQLite may still
        // make empty -wal and -shm files beside a cleanly closed database.)
        let pool = try openPool(directory, readOnly: mode == .reader)
        guard let version = try checkFormat(pool, directory: directory, allowEmpty: false), version < Schema.formatVersion else {
            return LedgerStore(directory: directory, pool: pool, writerLock: lock)
        }
        guard lock != nil else {
            throw StoreError(.formatVersion, "data directory \(directory.url.path) has format version \(version), older than this quartet's \(Schema.formatVersion); start the node once (it migrates the directory at start, keeping a copy of it as it was first), then run this again")
        }
        let backup = try migrate(pool, directory: directory, from: version)
        return LedgerStore(directory: directory, pool: pool, writerLock: lock, migration: (version, backup))
    }

    /// Brings a directory of an older format to this one: first a copy of the database as it
    /// is (`before-format-N-<time>.sqlite` in the directory, mode 0600), then each migration in
    /// its own transaction (`Schema.migrator`). Returns the copy's path.
    private static func migrate(_ pool: DatabasePool, directory: DataDirectory, from version: Int) throws(StoreError) -> String {
        // Its migrations all done while its format says otherwise: changed by hand. Migrating
        // would change nothing, and a copy would be made at every open.
        let pending: Bool
        do { pending = try pool.read { db in try !Schema.migrator.hasCompletedMigrations(db) } } catch {
            throw StoreError(.io, "cannot read the schema migrations of \(directory.databasePath)", cause: error)
        }
        guard pending else {
            throw StoreError(.formatVersion, "\(directory.databasePath) says format version \(version), but its schema is already this quartet's (\(Schema.formatVersion)): its meta table was changed; restore a backup, or `quartet recover`")
        }
        // What an interrupted copy left (a kill, a full disk): never a good copy.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.url.path)) ?? []
        where name.hasPrefix("before-format-") && name.hasSuffix(".sqlite.partial") {
            unlink(directory.url.appendingPathComponent(name).path)
        }
        let stamp = Int(Date().timeIntervalSince1970)
        let backup = directory.url.appendingPathComponent("before-format-\(Schema.formatVersion)-\(stamp).sqlite").path
        do {
            try durableCopy(pool, of: directory.databasePath, to: backup) { partial in
                try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [partial]) }
            }
        } catch {
            throw StoreError(.io, "cannot copy \(directory.databasePath) to \(backup) before migrating it from format \(version); nothing was changed: \(error.message)")
        }
        do { try Schema.migrator.migrate(pool) } catch {
            throw StoreError(.io, "cannot migrate \(directory.databasePath) from format \(version) to \(Schema.formatVersion); the copy from before is \(backup)", cause: error)
        }
        return backup
    }

    private static func openPool(_ directory: DataDirectory, readOnly: Bool = false) throws(StoreError) -> DatabasePool {
        let pool: DatabasePool
        var config = configuration()
        config.readonly = readOnly
        do { pool = try DatabasePool(path: directory.databasePath, configuration: config) } catch {
            throw StoreError(.corrupt, "cannot open \(directory.databasePath)", cause: error)
        }
        if readOnly { return pool }
        // GRDB switches its writer to synchronous=NORMAL when it enables WAL, after
        // prepareDatabase has run; set FULL again on the writer and check it took.
        let mode: Int?
        do {
            mode = try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
                return try Int.fetchOne(db, sql: "PRAGMA synchronous")
            }
        } catch {
            throw StoreError(.io, "cannot set synchronous=FULL on \(directory.databasePath)", cause: error)
        }
        guard mode == 2 else {
            throw StoreError(.io, "SQLite did not accept synchronous=FULL on \(directory.databasePath) (mode \(mode.map(String.init) ?? "?"))")
        }
        return pool
    }

    /// The writer connection's `PRAGMA synchronous` (2 is FULL) and journal mode.
    func writerDurability() throws -> (synchronous: Int, journalMode: String, walSizeLimit: Int) {
        try pool.writeWithoutTransaction { db in
            (try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1, try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
             try Int.fetchOne(db, sql: "PRAGMA journal_size_limit") ?? -1)
        }
    }

    /// The directory's format version (nil: an empty database, when `allowEmpty`); refuses a
    /// newer format, and one too old to migrate.
    @discardableResult
    private static func checkFormat(_ pool: DatabasePool, directory: DataDirectory, allowEmpty: Bool) throws(StoreError) -> Int? {
        // The format and the migrations in one snapshot (a migration commits both together).
        let version: String?, complete: Bool, superseded: Bool
        do {
            (version, complete, superseded) = try pool.read { db in
                guard try db.tableExists("meta") else { return (nil, false, false) }
                return (try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'format_version'"),
                        try Schema.migrator.hasCompletedMigrations(db), try Schema.migrator.hasBeenSuperseded(db))
            }
        } catch {
            throw StoreError(.corrupt, "cannot read \(directory.databasePath)", cause: error)
        }
        guard let version else {
            if allowEmpty { return nil }
            throw StoreError(.notADataDirectory, "\(directory.databasePath) has no Quartet format version; it is not a Quartet data directory")
        }
        guard let number = Int(version), number >= 1 else {
            throw StoreError(.corrupt, "data directory \(directory.url.path) has format version \"\(version)\", which is not a version number")
        }
        guard number <= Schema.formatVersion else {
            throw StoreError(.formatVersion, "data directory \(directory.url.path) has format version \(number), written by a newer quartet; this one reads formats \(Schema.oldestMigrated) to \(Schema.formatVersion). Run the newer quartet, or restore the copy taken before the upgrade (docs/operations.md, \"Upgrades\")")
        }
        guard number >= Schema.oldestMigrated else {
            throw StoreError(.formatVersion, "data directory \(directory.url.path) has format version \(number), older than this quartet migrates (\(Schema.oldestMigrated)); upgrade through an earlier release first")
        }
        if number == Schema.formatVersion {
            // Its format says this one: its schema must be all of this one's migrations and no
            // others (changed by hand, or half restored, it would fail later on a table missing).
            guard complete, !superseded else {
                throw StoreError(.corrupt, "\(directory.databasePath) says format version \(number), but its schema \(superseded ? "has migrations this quartet does not know" : "lacks some of that format's"): its tables were changed; restore a backup, or `quartet recover`")
            }
        }
        return number
    }

    /// Whether this store holds the writer lock and may append.
    public var isWriter: Bool { writerLock != nil }

    /// Closes the database and releases the writer lock. Appends and reads fail afterwards.
    public func close() throws(StoreError) {
        defer { writerLock?.release() }
        do {
            // Fold the WAL into the database file so a cleanly closed directory is one file
            // (the last connection GRDB closes is a read-only one, which would leave the WAL).
            if writerLock != nil { try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") } }
            try pool.close()
        } catch { throw StoreError(.io, "cannot close \(directory.databasePath)", cause: error) }
    }

    // MARK: Logs

    /// Registers a log this directory writes, with its public key. The key file is written by the caller.
    @discardableResult
    public func addLog(name: String, origin: String, publicKey: Ed25519PublicKey, own: Bool, nowMillis: UInt64) throws(StoreError) -> LogInfo {
        // Forgotten once the new row is committed; a read that began before cannot keep its list.
        defer { knownLogs.withLock { $0 = ($0.generation + 1, nil) } }
        do {
            return try pool.write { db in
                if try Row.fetchOne(db, sql: "SELECT 1 FROM logs WHERE name = ? OR origin = ?", arguments: [name, origin]) != nil {
                    throw StoreError(.logExists, "log \(name) (origin \(origin)) already exists in \(directory.url.path)")
                }
                try db.execute(sql: "INSERT INTO logs (name, origin, public_key, own, created_ms) VALUES (?, ?, ?, ?, ?)",
                               arguments: [name, origin, Data(publicKey.rawRepresentation), own, Int64(nowMillis)])
                return LogInfo(id: db.lastInsertedRowID, name: name, origin: origin, publicKey: publicKey, isOwn: own)
            }
        } catch let error as StoreError { throw error } catch {
            throw StoreError(.io, "cannot register log \(name)", cause: error)
        }
    }

    /// Every log held, by name.
    /// Writes a consistent copy of the database to `path` (SQLite's `VACUUM INTO`: one read
    /// snapshot, compacted), while a node may be writing. Refuses an existing file.
    public func copy(to path: String) throws(StoreError) {
        guard !FileManager.default.fileExists(atPath: path) else { throw StoreError(.io, "\(path) already exists; refusing to overwrite it") }
        // On a read connection: `quartet backup` copies the directory of a running node.
        try Self.durableCopy(pool, of: directory.databasePath, to: path) { partial in
            try pool.unsafeRead { db in try db.execute(sql: "VACUUM INTO ?", arguments: [partial]) }
        }
    }

    /// A copy of the database at `path`, whole or not at all: `VACUUM INTO` writes
    /// `<path>.partial` (after checking the file system has room for it), the copy is synced to
    /// disk (SQLite does not sync what `VACUUM INTO` writes), given the name `path` and the
    /// directory synced. A copy that fails or is interrupted leaves no file that looks like a
    /// good one: the partial file is removed on failure, and the next copy removes one a kill
    /// left. Mode 0600 (the process's umask is 077; set again in case it is not).
    static func durableCopy(_ pool: DatabasePool, of source: String, to path: String,
                            vacuum: (String) throws -> Void) throws(StoreError) {
        let partial = path + ".partial"
        let folder = (path as NSString).deletingLastPathComponent
        unlink(partial)
        do {
            let needed: Int64 = try pool.read { db in
                let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                return pages * size
            }
            var fs = statvfs()
            if statvfs(folder.isEmpty ? "." : folder, &fs) == 0 {
                let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
                // The copy is at most the database's pages; keep 64 MiB besides for the node.
                guard free >= needed + (64 << 20) else {
                    throw StoreError(.io, "cannot copy \(source) to \(path): it needs up to \(needed >> 20) MiB and \(folder) has \(free >> 20) MiB free (64 MiB is kept besides); nothing was written")
                }
            }
            try vacuum(partial)
            chmod(partial, 0o600)
            let fd = Glibc.open(partial, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw StoreError(.io, "cannot open \(partial) to sync it: \(String(cString: strerror(errno)))") }
            let synced = fsync(fd) == 0
            let failure = errno
            Glibc.close(fd)
            guard synced else { throw StoreError(.io, "cannot sync \(partial) to disk: \(String(cString: strerror(failure)))") }
            // A link, not a rename: a file that appeared at `path` meanwhile is refused, not replaced.
            guard link(partial, path) == 0 else { throw StoreError(.io, "cannot name the copy \(path): \(String(cString: strerror(errno)))") }
            unlink(partial)
            DataDirectory.syncDirectory(folder.isEmpty ? "." : folder)
        } catch let error as StoreError {
            unlink(partial)
            throw error
        } catch {
            unlink(partial)
            throw StoreError(.io, "cannot copy \(source) to \(path)", cause: UnderlyingError("\(error)"))
        }
    }

    public func logs() throws(StoreError) -> [LogInfo] {
        let (generation, known) = knownLogs.withLock { $0 }
        if let known { return known }
        let logs = try read("list logs") { db in try Self.fetchLogs(db) }
        if isWriter { knownLogs.withLock { if $0.generation == generation { $0.logs = logs } } }
        return logs
    }

    /// The log named `name`; the error lists the logs that are held.
    public func log(named name: String) throws(StoreError) -> LogInfo {
        let all = try logs()
        if let log = all.first(where: { $0.name == name }) { return log }
        let known = all.map(\.name).joined(separator: ", ")
        throw StoreError(.unknownLog, "no log named \(name) in \(directory.url.path) (logs here: \(known.isEmpty ? "none" : known))")
    }

    static func fetchLogs(_ db: Database) throws -> [LogInfo] {
        // Decoded with throwing reads: a row someone with the disk edited (a text where an
        // integer belongs) is a clear error, not a trap.
        try Row.fetchAll(db, sql: "SELECT id, name, origin, public_key, own FROM logs ORDER BY name").map { row in
            let name: String, id: Int64, origin: String, raw: Data, own: Int64
            do {
                (name, id, origin) = (try row.decode(forColumn: "name"), try row.decode(forColumn: "id"), try row.decode(forColumn: "origin"))
                (raw, own) = (try row.decode(forColumn: "public_key"), try row.decode(forColumn: "own"))
            } catch {
                throw StoreError(.corrupt, "a row of the logs table is not of the types Quartet writes", cause: UnderlyingError("\(error)"))
            }
            guard own == 0 || own == 1 else { throw StoreError(.corrupt, "log \(name): its own flag is \(own), not 0 or 1") }
            let key: Ed25519PublicKey
            do { key = try Ed25519PublicKey(rawRepresentation: Array(raw)) } catch {
                throw StoreError(.corrupt, "log \(name): stored public key is not an Ed25519 key", cause: error)
            }
            return LogInfo(id: id, name: name, origin: origin, publicKey: key, isOwn: own == 1)
        }
    }

    // MARK: Helpers

    /// Runs `body` in one read transaction (a snapshot across its statements) on a reader
    /// connection. The transaction is begun and ended through the C API with statements GRDB
    /// keeps prepared: `DatabasePool.read` prepares `BEGIN` and `COMMIT` anew and keeps its own
    /// transaction bookkeeping each time, which cost more than most of the reads it wraps.
    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.unsafeRead { db in
                try RawStatement(db, sql: "BEGIN DEFERRED").execute()
                defer {
                    // Always ended, so the connection goes back to the pool outside a snapshot.
                    if (try? RawStatement(db, sql: "COMMIT").execute()) == nil, let connection = db.sqliteConnection,
                       sqlite3_get_autocommit(connection) == 0 {
                        _ = sqlite3_exec(connection, "ROLLBACK", nil, nil, nil)
                    }
                }
                return try body(db)
            }
        } catch let error as StoreError { throw error } catch {
            throw StoreError(.io, "cannot \(what)", cause: error)
        }
    }
}

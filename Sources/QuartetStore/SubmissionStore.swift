import Foundation
import GRDB
import Synchronization

/// The API appends' `Idempotency-Key`s this node has begun, on disk so that a restart does not
/// forget them: `submissions.sqlite` in the data directory (WAL, mode 0600). A submission is
/// recorded durably (`synchronous=FULL`) before its append is queued, and what it saved is
/// written after (`NORMAL`: lost in a power cut, the submission reads as begun with no known
/// outcome, and a repeat is told to look at the log — never appended twice). A refused one is
/// removed. Kept a day at most, and only the newest `capacity` rows and `maxBytes` bytes (the
/// oldest recorded go first, by the order they were recorded, not by a clock). Not in a backup:
/// a node restored from one has forgotten them.
public final class SubmissionStore: Sendable {
    /// What was recorded of a submission.
    public struct Recorded: Sendable, Equatable {
        /// The SHA-256 of what it asked to append.
        public let digest: [UInt8]
        /// What it saved; nil while begun, or when its outcome is not known.
        public let saved: [UInt8]?
    }

    /// A submission could not be looked up or recorded: it was refused, nothing appended.
    public struct Unrecorded: Error, CustomStringConvertible {
        public let cause: String
        public init(cause: String) { self.cause = cause }
        public var description: String { "the node cannot record the submission (\(cause))" }
    }

    /// How long a submission is kept (ms): a client sends a request again within minutes.
    public static let keptMillis: UInt64 = 24 * 3600 * 1000
    /// The most rows kept, and bytes (keys and saved answers).
    public let capacity: Int
    public let maxBytes: Int
    public let path: String

    /// Beginnings (synced), and the writes after them (not synced): two connections to the file.
    private let synced: DatabaseQueue
    private let unsynced: DatabaseQueue
    /// Begun since the last pruning.
    private let sincePruning = Mutex(0)
    /// Where a failure that refuses nothing (a pruning) is said.
    private let warn: @Sendable (String) -> Void

    public static func path(_ directory: DataDirectory) -> String { directory.url.appendingPathComponent("submissions.sqlite").path }

    /// Opens (creating if needed) the store of `directory`. A file that cannot be opened as one
    /// (damaged) is moved aside — it holds only the last day's keys, and a node that will not
    /// start over them is worse than their repeats being appended again — and said.
    public init(_ directory: DataDirectory, capacity: Int = 100_000, maxBytes: Int = 256 << 20, nowMillis: UInt64,
                warn: @escaping @Sendable (String) -> Void = { _ in }) throws(StoreError) {
        let path = Self.path(directory)
        self.path = path
        self.capacity = capacity
        self.maxBytes = maxBytes
        self.warn = warn
        func openBoth() throws -> (DatabaseQueue, DatabaseQueue) {
            let synced = try LedgerStore.walQueue(path, synchronous: "FULL")
            try synced.write { db in
                // A table of the first form (no `seq`: a build of 2026-12-07 before 0.3.8) could
                // not be pruned: made again (it holds at most a day of keys).
                if try db.tableExists("submissions"), try !db.columns(in: "submissions").contains(where: { $0.name == "seq" }) {
                    try db.execute(sql: "DROP TABLE submissions")
                }
                // `seq`: the order rows were recorded in, which pruning follows (a clock set
                // back would otherwise make the newest rows look oldest).
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS submissions (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        key TEXT NOT NULL UNIQUE,
                        digest BLOB NOT NULL,
                        saved BLOB,
                        created_ms INTEGER NOT NULL
                    );
                    """)
            }
            return (synced, try LedgerStore.walQueue(path, synchronous: "NORMAL"))
        }
        do {
            (synced, unsynced) = try openBoth()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CORRUPT || error.resultCode == .SQLITE_NOTADB {
            // Damaged only: a lock held, a full disk or a permission refused is the operator's
            // to mend (thrown), not a reason to forget the day's keys.
            let aside = path + ".unreadable-\(nowMillis)"
            warn("the submissions database \(path) cannot be opened (\(error)): moved aside to \(aside) and started afresh; repeats of the last day's Idempotency-Keys are appended again")
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try? FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
            }
            do { (synced, unsynced) = try openBoth() } catch {
                throw StoreError(.io, "cannot open the submissions database \(path)", cause: error)
            }
        } catch {
            throw StoreError(.io, "cannot open the submissions database \(path) (its keys make a repeat after a restart an answer, not a second append)", cause: error)
        }
        // As the ledger's database: the credentials' digests are in it (the process's umask
        // is 077; set again in case it is not).
        for file in [path, path + "-wal", path + "-shm"] { chmod(file, 0o600) }
        prune(nowMillis: nowMillis)
    }

    /// What was recorded of submission `key`; if nothing, records it as begun with `digest`,
    /// durably, and answers nil. One transaction: two requests cannot both begin it.
    public func recallOrBegin(_ key: String, digest: [UInt8], nowMillis: UInt64) throws(StoreError) -> Recorded? {
        try recallOrBegin([(key, digest)], nowMillis: nowMillis)[0]
    }

    /// `recallOrBegin` of several submissions in one transaction, one sync for all (the
    /// submissions of requests that came together, `SubmissionBegins`).
    public func recallOrBegin(_ submissions: [(key: String, digest: [UInt8])], nowMillis: UInt64) throws(StoreError) -> [Recorded?] {
        let found: [Recorded?]
        do {
            found = try synced.write { db -> [Recorded?] in
                try submissions.map { key, digest -> Recorded? in
                    if let row = try Row.fetchOne(db, sql: "SELECT digest, saved FROM submissions WHERE key = ?", arguments: [key]) {
                        let digest: Data = row["digest"]
                        let saved: Data? = row["saved"]
                        return Recorded(digest: Array(digest), saved: saved.map(Array.init))
                    }
                    try db.execute(sql: "INSERT INTO submissions (key, digest, saved, created_ms) VALUES (?, ?, NULL, ?)",
                                   arguments: [key, Data(digest), Int64(clamping: nowMillis)])
                    return nil
                }
            }
        } catch {
            throw StoreError(.io, "cannot record a submission in \(path)", cause: error)
        }
        beginTransactions.withLock { $0 += 1 }
        let begun = found.filter { $0 == nil }.count
        if begun > 0 {
            let due = sincePruning.withLock { count -> Bool in
                count += begun
                guard count >= 1000 else { return false }
                count = 0
                return true
            }
            // After the rows are in: a failure here is said, and refuses nothing.
            if due { prune(nowMillis: nowMillis) }
        }
        return found
    }

    /// What submission `key` saved (not synced).
    public func save(_ key: String, _ saved: [UInt8]) throws(StoreError) {
        do { try unsynced.write { try $0.execute(sql: "UPDATE submissions SET saved = ? WHERE key = ?", arguments: [Data(saved), key]) } } catch {
            throw StoreError(.io, "cannot record what a submission saved in \(path)", cause: error)
        }
    }

    /// Submission `key` was refused, nothing appended: forgotten (not synced: kept by a power
    /// cut, it reads as of unknown outcome).
    public func forget(_ key: String) throws(StoreError) {
        do { try unsynced.write { try $0.execute(sql: "DELETE FROM submissions WHERE key = ?", arguments: [key]) } } catch {
            throw StoreError(.io, "cannot forget a submission in \(path)", cause: error)
        }
    }

    /// Removes submissions recorded more than a day ago, then the oldest recorded beyond
    /// `capacity` rows or `maxBytes`. A failure is said (`warn`), never thrown: what is kept
    /// longer only costs disk.
    func prune(nowMillis: UInt64) {
        let before = Int64(clamping: nowMillis > Self.keptMillis ? nowMillis - Self.keptMillis : 0)
        do {
            try unsynced.write { db in
                try db.execute(sql: "DELETE FROM submissions WHERE created_ms < ?", arguments: [before])
                let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submissions") ?? 0
                if count > capacity {
                    try db.execute(sql: "DELETE FROM submissions WHERE seq <= (SELECT seq FROM submissions ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                                   arguments: [capacity])
                }
                // The newest first, summed: every row older than the one that passes the bound goes.
                try db.execute(sql: """
                    DELETE FROM submissions WHERE seq <= (
                        SELECT seq FROM (
                            SELECT seq, SUM(length(key) + length(digest) + COALESCE(length(saved), 0) + 32) OVER (ORDER BY seq DESC) AS total
                            FROM submissions)
                        WHERE total > ? ORDER BY seq DESC LIMIT 1)
                    """, arguments: [maxBytes])
            }
        } catch {
            warn("cannot prune the submissions in \(path): \(error)")
        }
    }

    /// The rows kept (tests).
    func count() throws -> Int { try unsynced.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM submissions") ?? 0 } }
    /// The transactions `recallOrBegin` has committed (tests: those that came together share one).
    let beginTransactions = Mutex(0)
}

import Foundation
import GRDB
import Synchronization

/// The submissions (an API append's `Idempotency-Key`, an operator form's rendering) this node
/// has begun, on disk so that a restart does not forget them: `submissions.sqlite` in the data
/// directory (WAL). A submission is recorded durably (`synchronous=FULL`) before its append
/// is queued, and what it saved is written after (`NORMAL`: lost in a power cut, the
/// submission reads as begun with no known outcome, and a repeat is told to look at the log —
/// never appended twice). A refused one is removed. Kept a day, and at most `capacity` rows
/// (the oldest go first). Not in a backup: a node restored from one has forgotten them.
public final class SubmissionStore: Sendable {
    /// What was recorded of a submission.
    public struct Recorded: Sendable, Equatable {
        /// The SHA-256 of what it asked to append.
        public let digest: [UInt8]
        /// What it saved; nil while begun, or when its outcome is not known.
        public let saved: [UInt8]?
    }

    /// How long a submission is kept (ms): a client sends a request again within minutes.
    public static let keptMillis: UInt64 = 24 * 3600 * 1000
    /// The most rows kept.
    public let capacity: Int
    public let path: String

    /// Beginnings (synced), and the writes after them (not synced): two connections to the file.
    private let synced: DatabaseQueue
    private let unsynced: DatabaseQueue
    /// Begun since the last pruning.
    private let sincePruning = Mutex(0)

    public static func path(_ directory: DataDirectory) -> String { directory.url.appendingPathComponent("submissions.sqlite").path }

    public init(_ directory: DataDirectory, capacity: Int = 100_000, nowMillis: UInt64) throws(StoreError) {
        let path = Self.path(directory)
        self.path = path
        self.capacity = capacity
        func open(synchronous: String) throws -> DatabaseQueue {
            var config = Configuration()
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                try db.execute(sql: "PRAGMA journal_size_limit = \(LedgerStore.walSizeLimit)")
            }
            config.busyMode = .timeout(10)
            return try DatabaseQueue(path: path, configuration: config)
        }
        do {
            let synced = try open(synchronous: "FULL")
            try synced.write { db in
                try db.execute(sql: """
                    CREATE TABLE IF NOT EXISTS submissions (
                        key TEXT PRIMARY KEY NOT NULL,
                        digest BLOB NOT NULL,
                        saved BLOB,
                        created_ms INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX IF NOT EXISTS submissions_by_age ON submissions (created_ms);
                    """)
            }
            self.synced = synced
            unsynced = try open(synchronous: "NORMAL")
            // As the ledger's database: the credentials' digests are in it (the process's umask
            // is 077; set again in case it is not).
            for file in [path, path + "-wal", path + "-shm"] { chmod(file, 0o600) }
        } catch {
            throw StoreError(.corrupt, "cannot open the submissions database \(path)", cause: error)
        }
        try prune(nowMillis: nowMillis)
    }

    /// What was recorded of submission `key`; if nothing, records it as begun with `digest`,
    /// durably, and answers nil. One transaction: two processes cannot both begin it.
    public func recallOrBegin(_ key: String, digest: [UInt8], nowMillis: UInt64) throws(StoreError) -> Recorded? {
        let found: Recorded?
        do {
            found = try synced.write { db -> Recorded? in
                if let row = try Row.fetchOne(db, sql: "SELECT digest, saved FROM submissions WHERE key = ?", arguments: [key]) {
                    let digest: Data = row["digest"]
                    let saved: Data? = row["saved"]
                    return Recorded(digest: Array(digest), saved: saved.map(Array.init))
                }
                try db.execute(sql: "INSERT INTO submissions (key, digest, saved, created_ms) VALUES (?, ?, NULL, ?)",
                               arguments: [key, Data(digest), Int64(clamping: nowMillis)])
                return nil
            }
        } catch {
            throw StoreError(.io, "cannot record a submission in \(path)", cause: error)
        }
        if found == nil {
            let due = sincePruning.withLock { count -> Bool in
                count += 1
                guard count >= 1000 else { return false }
                count = 0
                return true
            }
            if due { try prune(nowMillis: nowMillis) }
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

    /// Removes submissions older than a day, then the oldest beyond `capacity`.
    func prune(nowMillis: UInt64) throws(StoreError) {
        let before = Int64(clamping: nowMillis > Self.keptMillis ? nowMillis - Self.keptMillis : 0)
        do {
            try unsynced.write { db in
                try db.execute(sql: "DELETE FROM submissions WHERE created_ms < ?", arguments: [before])
                let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submissions") ?? 0
                if count > capacity {
                    try db.execute(sql: "DELETE FROM submissions WHERE key IN (SELECT key FROM submissions ORDER BY created_ms LIMIT ?)",
                                   arguments: [count - capacity])
                }
            }
        } catch {
            throw StoreError(.io, "cannot prune the submissions in \(path)", cause: error)
        }
    }

    /// The rows kept (tests).
    func count() throws -> Int { try unsynced.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM submissions") ?? 0 } }
}

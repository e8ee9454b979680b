import GRDB

/// The on-disk schema (docs/formats.md, "Data directory"). Migrations are never edited once
/// released; a new format version adds a migration and bumps `formatVersion`.
public enum Schema {
    /// The data directory format this code reads and writes.
    /// 2 added `log_keys` (the signing keys a log rotated to, by the index of the rotation entry).
    public static let formatVersion = 2
    /// The oldest format this code migrates at start (the N-1 promise).
    public static let oldestMigrated = 1

    /// Perfect subtrees are stored at every level that is a multiple of this (level 0 being the
    /// leaf hashes kept with the entries), so a store writes about 1/15 extra rows per entry
    /// and any subtree hash costs one range read of at most 2^(stride-1) stored hashes.
    static let nodeLevelStride = 4

    /// Entry rows are keyed by `log_id << 40 | index`: one B-tree, appended in order.
    static let indexBits: UInt64 = 40

    static func entryKey(logID: Int64, index: UInt64) -> Int64 {
        Int64(bitPattern: UInt64(logID) << indexBits | index)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                );
                CREATE TABLE logs (
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    origin TEXT NOT NULL UNIQUE,
                    public_key BLOB NOT NULL,
                    own INTEGER NOT NULL,
                    created_ms INTEGER NOT NULL
                );
                CREATE TABLE entries (
                    key INTEGER PRIMARY KEY,
                    header BLOB NOT NULL,
                    leaf_hash BLOB NOT NULL,
                    salt BLOB,
                    payload BLOB
                );
                CREATE TABLE nodes (
                    log_id INTEGER NOT NULL,
                    level INTEGER NOT NULL,
                    idx INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    PRIMARY KEY (log_id, level, idx)
                ) WITHOUT ROWID;
                CREATE TABLE checkpoints (
                    log_id INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    root BLOB NOT NULL,
                    note TEXT NOT NULL,
                    time_ms INTEGER NOT NULL,
                    PRIMARY KEY (log_id, size)
                ) WITHOUT ROWID;
                """)
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('format_version', '1')")
        }
        // Each migration is one transaction, and ends by writing its format version: a
        // migration interrupted by a crash leaves the directory as it was.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: """
                CREATE TABLE log_keys (
                    log_id INTEGER NOT NULL,
                    rotation_index INTEGER NOT NULL,
                    public_key BLOB NOT NULL,
                    PRIMARY KEY (log_id, rotation_index)
                ) WITHOUT ROWID;
                UPDATE meta SET value = '2' WHERE key = 'format_version';
                """)
        }
        return migrator
    }
}

import GRDB
import GRDBSQLite

/// A statement from GRDB's per-connection cache, bound and stepped through the SQLite C API, for
/// the hot paths (appends, batches served to peers): it binds `[UInt8]` buffers in place instead of copying each into a
/// `Data` and an existential argument list. GRDB keeps the statement prepared across
/// transactions and finalizes it when the connection closes. Used only inside a GRDB access.
struct RawStatement {
    private let statement: OpaquePointer
    private let db: OpaquePointer

    /// A bound value.
    enum Value {
        case integer(Int64)
        case blob([UInt8])
        case text(String)
        case null
    }

    init(_ database: Database, sql: String) throws {
        guard let connection = database.sqliteConnection else { throw StoreError(.io, "the database connection is closed") }
        self.statement = try database.cachedStatement(sql: sql).sqliteStatement
        self.db = connection
    }

    /// Binds `values` to parameters 1... and runs the statement to completion.
    func execute(_ values: Value...) throws {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(values[...], at: 1) { try step(expecting: SQLITE_DONE) }
    }

    /// Binds `values` and hands each result row to `body`, which reads its columns in place
    /// (valid only during the call): no `Row`, `Data` or existential per value, which is most
    /// of the cost of reading a batch through GRDB's generic decoding.
    func query(_ values: Value..., body: (Columns) throws -> Void) throws {
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        try bind(values[...], at: 1) {
            while try step(expecting: SQLITE_ROW, or: SQLITE_DONE) == SQLITE_ROW { try body(Columns(statement: statement)) }
        }
    }

    /// The current row's columns.
    struct Columns {
        let statement: OpaquePointer

        /// A blob (or text) column's bytes, nil for NULL.
        func bytes(_ column: Int32) -> [UInt8]? {
            guard sqlite3_column_type(statement, column) != SQLITE_NULL else { return nil }
            // SQLite's order: the pointer first, then its length.
            let pointer = sqlite3_column_blob(statement, column)
            let count = Int(sqlite3_column_bytes(statement, column))
            guard let pointer, count > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: pointer, count: count))
        }
    }

    @discardableResult
    private func step(expecting expected: Int32, or other: Int32? = nil) throws -> Int32 {
        let code = sqlite3_step(statement)
        guard code == expected || code == other else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db)))
        }
        return code
    }

    // Blobs must stay alive while the statement steps, so binding recurses inside
    // `withUnsafeBytes` and runs `bottom` (the steps) at the bottom.
    private func bind(_ values: ArraySlice<Value>, at index: Int32, bottom: () throws -> Void) throws {
        guard let value = values.first else { return try bottom() }
        switch value {
        case .integer(let n):
            sqlite3_bind_int64(statement, index, n)
            try bind(values.dropFirst(), at: index + 1, bottom: bottom)
        case .blob(let bytes):
            try bytes.withUnsafeBytes { buffer in
                // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
                sqlite3_bind_blob(statement, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count), nil)
                try bind(values.dropFirst(), at: index + 1, bottom: bottom)
            }
        case .text(let string):
            try string.withCString { pointer in
                sqlite3_bind_text(statement, index, pointer, -1, nil)
                try bind(values.dropFirst(), at: index + 1, bottom: bottom)
            }
        case .null:
            sqlite3_bind_null(statement, index)
            try bind(values.dropFirst(), at: index + 1, bottom: bottom)
        }
    }
}

extension RawStatement {
    /// Runs `body` in one write transaction driven through the C API (`BEGIN IMMEDIATE` …
    /// `COMMIT`, statements kept prepared), rolled back whole if anything fails: GRDB's
    /// transaction bookkeeping costs more than the inserts of a small batch. For connections
    /// used without GRDB's transactions (`writeWithoutTransaction`); the connection's
    /// `synchronous` setting decides whether the commit waits for the disk.
    static func transaction<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try RawStatement(db, sql: "BEGIN IMMEDIATE").execute()
        do {
            let value = try body()
            try RawStatement(db, sql: "COMMIT").execute()
            return value
        } catch {
            if let connection = db.sqliteConnection, sqlite3_get_autocommit(connection) == 0 {
                _ = sqlite3_exec(connection, "ROLLBACK", nil, nil, nil)
            }
            throw error
        }
    }
}

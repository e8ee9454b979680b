import GRDB
import GRDBSQLite

/// A statement from GRDB's per-connection cache, bound and stepped through the SQLite C API, for
/// the append hot path: it binds `[UInt8]` buffers in place instead of copying each into a
/// `Data` and an existential argument list. GRDB keeps the statement prepared across
/// transactions and finalizes it when the connection closes. Used only inside a GRDB write.
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
        try bind(values[...], at: 1)
    }

    // Blobs must stay alive while the statement steps, so binding recurses inside
    // `withUnsafeBytes` and steps at the bottom.
    private func bind(_ values: ArraySlice<Value>, at index: Int32) throws {
        guard let value = values.first else {
            let code = sqlite3_step(statement)
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db)))
            }
            return
        }
        switch value {
        case .integer(let n):
            sqlite3_bind_int64(statement, index, n)
            try bind(values.dropFirst(), at: index + 1)
        case .blob(let bytes):
            try bytes.withUnsafeBytes { buffer in
                // A zero-length blob still needs a non-null pointer, or SQLite stores NULL.
                sqlite3_bind_blob(statement, index, buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(buffer.count), nil)
                try bind(values.dropFirst(), at: index + 1)
            }
        case .text(let string):
            try string.withCString { pointer in
                sqlite3_bind_text(statement, index, pointer, -1, nil)
                try bind(values.dropFirst(), at: index + 1)
            }
        case .null:
            sqlite3_bind_null(statement, index)
            try bind(values.dropFirst(), at: index + 1)
        }
    }
}

import GRDB
import GRDBSQLite

/// A prepared INSERT run through the SQLite C API on a GRDB connection, for the append hot
/// path: it binds `[UInt8]` buffers in place instead of copying each into a `Data` and an
/// existential argument list. Used only inside a GRDB write transaction, and finalized before
/// that transaction's closure returns.
struct RawStatement: ~Copyable {
    private let statement: OpaquePointer
    private let db: OpaquePointer

    /// A bound value.
    enum Value {
        case integer(Int64)
        case blob([UInt8])
        case text(String)
    }

    init(_ database: Database, sql: String) throws {
        guard let connection = database.sqliteConnection else { throw StoreError(.io, "the database connection is closed") }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v2(connection, sql, -1, &statement, nil)
        guard code == SQLITE_OK, let statement else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)), sql: sql)
        }
        self.statement = statement
        self.db = connection
    }

    deinit { sqlite3_finalize(statement) }

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
        }
    }
}

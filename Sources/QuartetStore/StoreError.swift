/// An error from the data directory or the store, naming what was wrong and where.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure, stable for scripts and tests.
    public enum Code: String, Sendable {
        /// The directory is missing or is not a Quartet data directory.
        case notADataDirectory = "not-a-data-directory"
        /// The directory was written by another format version.
        case formatVersion = "format-version"
        /// No log of that name is held here.
        case unknownLog = "unknown-log"
        /// The log already exists.
        case logExists = "log-exists"
        /// The log is a replica: only its origin may append to it.
        case notOwnLog = "not-own-log"
        /// A signing key is missing, unreadable or does not match the log.
        case key
        /// Another process holds the directory's writer lock.
        case locked
        /// Input that the ledger refuses (a bad field, a payload that is not a JSON object).
        case invalidInput = "invalid-input"
        /// A requested index or size is beyond what the log holds.
        case outOfRange = "out-of-range"
        /// Stored bytes that do not verify, or SQLite reports the file damaged.
        case corrupt
        /// SQLite or the file system failed.
        case io
        /// The log takes no appends for now (its writer has not yet learnt from peers that no
        /// later copy of the log exists); the message says why and what to do.
        case unavailable
        /// Readers kept a maintenance step (emptying the WAL) from finishing; tried again later.
        case busy
    }

    /// The kind of failure.
    public let code: Code
    /// What was wrong and where.
    public let message: String
    /// The underlying error, if any (never holds secrets).
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return message }
        return "\(message): \(cause)"
    }
}

/// A cause known only by its text (a Foundation or system error message).
public struct UnderlyingError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

internal import COpenSSL

/// An error from a cryptographic operation, carrying OpenSSL's own error strings.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, in a word or two that scripts can match.
    public enum Code: String, Sendable {
        case keyGeneration = "key-generation"
        case invalidKey = "invalid-key"
        case signing
        case digest
        case randomness
        case encoding
    }

    /// The kind of failure.
    public let code: Code
    /// What Quartet was doing.
    public let message: String
    /// OpenSSL's error queue at the time, oldest first (`ERR_error_string_n`), possibly empty.
    public let openSSLErrors: [String]

    public init(code: Code, message: String, openSSLErrors: [String] = []) {
        self.code = code
        self.message = message
        self.openSSLErrors = openSSLErrors
    }

    /// Builds an error and drains OpenSSL's thread-local error queue into it.
    static func fromOpenSSL(_ code: Code, _ message: String) -> CryptoError {
        CryptoError(code: code, message: message, openSSLErrors: drainOpenSSLErrors())
    }

    public var description: String {
        if openSSLErrors.isEmpty { return message }
        return "\(message): \(openSSLErrors.joined(separator: "; "))"
    }
}

/// Empties OpenSSL's error queue for this thread, returning its entries as strings.
package func drainOpenSSLErrors() -> [String] {
    var errors: [String] = []
    while true {
        let code = ERR_get_error()
        if code == 0 { break }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        errors.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return errors
}

/// An error in ledger data: a malformed encoding, a proof or signature that does not verify.
public struct LedgerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure, stable for scripts and tests.
    public enum Code: String, Sendable {
        /// Bytes or text that do not parse.
        case malformed
        /// A value outside what the format allows (a name too long, an index past the size).
        case invalidArgument = "invalid-argument"
        /// A proof that does not lead to the expected root.
        case proofMismatch = "proof-mismatch"
        /// A signature missing, unknown or not valid.
        case badSignature = "bad-signature"
        /// A key rotation every signature of which holds, refused by the rules that keep a log's
        /// key chain short and its keys distinct (`KeyChain.maxRotations`, no key twice, no key
        /// id shared; since 2026-12-05: nodes before that may hold chains that break them).
        case chainLimit = "chain-limit"
    }

    /// The kind of failure.
    public let code: Code
    /// What was wrong, and where.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

import Foundation
import QuartetCrypto
import QuartetLedger

/// A bearer token the API accepts: who it stands for, and the token's SHA-256 (the token itself
/// is never stored). An operator token stands for the operator of the node's own log.
public struct TokenGrant: Sendable, Equatable {
    public let name: String
    public let identity: FederationIdentity
    public let sha256: [UInt8]

    public init(name: String, identity: FederationIdentity, sha256: [UInt8]) {
        self.name = name
        self.identity = identity
        self.sha256 = sha256
    }

    /// A new random token: `qt_` and 43 base64url characters (32 random bytes).
    public static func newToken() throws -> String {
        "qt_" + (try randomBase64URL())
    }

    /// 32 random bytes as 43 base64url characters (RFC 4648 section 5, no padding): a token's
    /// secret part, or a sign-in's session id (`WebSessions`).
    static func randomBase64URL() throws -> String {
        Base64.encode(try SecureRandom.bytes(count: 32)).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func digest(_ token: String) -> [UInt8] {
        SHA256.hash(Array(token.utf8))
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func parseHex(_ text: String) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }
}

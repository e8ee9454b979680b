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

    /// A new random token: `qt_` and 43 base64url characters (32 random bytes); for one node
    /// (`node`), `qt_<node>_` and the 43 characters: the token says where it belongs, and that
    /// node's sign-in page sends no other node's token (`signInPattern`).
    public static func newToken(node: String? = nil) throws -> String {
        "qt_" + (node.map { $0 + "_" } ?? "") + (try randomBase64URL())
    }

    /// The node a token was made for (`newToken(node:)`), or nil for a token of no one node.
    public static func boundNode(of token: String) -> String? {
        let bytes = Array(token.utf8)
        guard bytes.count >= 3 + 1 + 1 + 43, bytes.starts(with: Array("qt_".utf8)), bytes[bytes.count - 44] == UInt8(ascii: "_") else { return nil }
        let node = String(decoding: bytes[3..<(bytes.count - 44)], as: UTF8.self)
        return FederationPKI.isValidNodeID(node) ? node : nil
    }

    /// The HTML `pattern` a sign-in page's token field carries: a token of this node or of no
    /// one node, so that the browser does not send another node's token to this one.
    public static func signInPattern(node: String) -> String {
        "qt_(\(node)_)?[A-Za-z0-9_\\-]{43}"
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

import QuartetCrypto

/// A SHA-256 value: a leaf hash, an interior node hash, a root or a payload commitment.
public struct Hash: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes.
    public let bytes: [UInt8]

    /// Wraps 32 bytes; fails on any other length.
    public init(_ bytes: [UInt8]) throws(LedgerError) {
        guard bytes.count == SHA256.byteCount else {
            throw LedgerError(.malformed, "a hash is 32 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Wraps bytes known to be a SHA-256 output.
    init(digest: [UInt8]) {
        precondition(digest.count == SHA256.byteCount)
        self.bytes = digest
    }

    /// A hash from standard base64 (RFC 4648 section 4, with padding).
    public init(base64: String) throws(LedgerError) {
        guard let bytes = Base64.decode(base64) else {
            throw LedgerError(.malformed, "not standard base64: \(base64.prefix(64))")
        }
        try self.init(bytes)
    }

    /// Standard base64, as checkpoints and proofs print hashes.
    public var base64: String { Base64.encode(bytes) }

    /// Lowercase hexadecimal.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { base64 }

    /// RFC 9162 hash of a leaf: SHA-256(0x00 || data).
    public static func leaf(_ data: [UInt8]) -> Hash {
        Hash(digest: SHA256.hash(prefix: 0x00, data))
    }

    /// RFC 9162 hash of an interior node: SHA-256(0x01 || left || right).
    public static func node(_ left: Hash, _ right: Hash) -> Hash {
        withUnsafeBytes(of: UInt8(0x01)) { p in
            left.bytes.withUnsafeBytes { l in
                right.bytes.withUnsafeBytes { r in Hash(digest: SHA256.hash(parts: [p, l, r])) }
            }
        }
    }

    /// SHA-256 of the empty string: the root of the empty tree.
    public static let emptyTree = Hash(digest: SHA256.hash([]))
}

/// Standard base64 with padding (RFC 4648 section 4).
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    /// Encodes bytes.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], UInt8(ascii: "="), UInt8(ascii: "=")]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], UInt8(ascii: "=")]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes strict standard base64 with padding; nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 4 * 3)
        var i = 0
        while i < chars.count {
            let last = i + 4 == chars.count
            var n: UInt32 = 0
            var pad = 0
            for j in 0..<4 {
                let c = chars[i + j]
                if c == UInt8(ascii: "=") {
                    guard last, j >= 2 else { return nil }
                    pad += 1
                    n <<= 6
                    continue
                }
                guard pad == 0 else { return nil }
                let v = reverse[Int(c)]
                guard v != 0xFF else { return nil }
                n = n << 6 | UInt32(v)
            }
            out.append(UInt8(n >> 16 & 0xFF))
            if pad < 2 { out.append(UInt8(n >> 8 & 0xFF)) }
            if pad < 1 { out.append(UInt8(n & 0xFF)) }
            // Non-canonical encodings (stray bits under the padding) are refused.
            if pad == 1 && n & 0xFF != 0 { return nil }
            if pad == 2 && n & 0xFFFF != 0 { return nil }
            i += 4
        }
        return out
    }
}

/// Lowercase hexadecimal.
public enum Hex {
    /// Encodes bytes as lowercase hex.
    public static func encode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex (either case); nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = value(chars[i]), let lo = value(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

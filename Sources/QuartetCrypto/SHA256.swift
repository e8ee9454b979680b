internal import COpenSSL

/// SHA-256 over the system OpenSSL.
public enum SHA256 {
    /// The digest length in bytes.
    public static let byteCount = 32

    /// The SHA-256 implementation, fetched once: an implicit fetch on every call is measurably
    /// slower in OpenSSL 3.
    nonisolated(unsafe) private static let md: OpaquePointer = {
        guard let md = EVP_MD_fetch(nil, "SHA256", nil) else {
            fatalError("OpenSSL has no SHA256 implementation: \(drainOpenSSLErrors())")
        }
        return md
    }()

    /// SHA-256 of `data`.
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { hash(parts: [$0]) }
    }

    /// SHA-256 of the concatenation of `parts`, without copying them together.
    public static func hash(parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestInit_ex(ctx, md, nil) == 1 else {
            fatalError("EVP_DigestInit_ex(SHA256) failed: \(drainOpenSSLErrors())")
        }
        for part in parts where part.count > 0 {
            guard EVP_DigestUpdate(ctx, part.baseAddress, part.count) == 1 else {
                fatalError("EVP_DigestUpdate failed: \(drainOpenSSLErrors())")
            }
        }
        var out = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(ctx, $0.baseAddress, &length) }
        guard ok == 1, length == UInt32(byteCount) else {
            fatalError("EVP_DigestFinal_ex failed: \(drainOpenSSLErrors())")
        }
        return out
    }

    /// SHA-256 of `prefix || data`: the shape of every RFC 9162 leaf and node hash.
    public static func hash(prefix: UInt8, _ data: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: prefix) { p in data.withUnsafeBytes { d in hash(parts: [p, d]) } }
    }
}

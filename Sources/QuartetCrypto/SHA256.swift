internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

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

    /// One digest context per thread, reused: allocating and freeing one per hash costs more
    /// than hashing a small leaf.
    private static let contextKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { EVP_MD_CTX_free(OpaquePointer(pointer)) }
        }
        return key
    }()

    private static func threadContext() -> OpaquePointer {
        if let existing = pthread_getspecific(contextKey) { return OpaquePointer(existing) }
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        pthread_setspecific(contextKey, UnsafeRawPointer(ctx))
        return ctx
    }

    /// SHA-256 of the concatenation of `parts`, without copying them together.
    public static func hash(parts: [UnsafeRawBufferPointer]) -> [UInt8] {
        let ctx = threadContext()
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

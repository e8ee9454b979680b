internal import COpenSSL

/// Cryptographically secure random bytes from OpenSSL's DRBG (`RAND_bytes`).
public enum SecureRandom {
    /// `count` random bytes. Fails only if OpenSSL's generator cannot be seeded.
    public static func bytes(count: Int) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        guard ok == 1 else { throw .fromOpenSSL(.randomness, "RAND_bytes failed") }
        return out
    }
}

/// The OpenSSL library in use at run time, e.g. `OpenSSL 3.0.17 1 Jul 2025`.
public var openSSLVersion: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }

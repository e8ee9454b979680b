import Foundation
import QuartetCrypto
import Synchronization

/// Milliseconds since the Unix epoch from the system's real-time clock.
@Sendable public func wallClockMillis() -> UInt64 {
    UInt64(Date().timeIntervalSince1970 * 1000)
}

/// Random bytes for salts, drawn from OpenSSL's DRBG 8 KiB at a time: one `RAND_bytes` call per
/// 256 salts instead of one per append. Each byte is handed out once.
public final class SaltPool: Sendable {
    /// The process-wide pool.
    public static let shared = SaltPool()
    private let buffer = Mutex<(bytes: [UInt8], offset: Int)>(([], 0))
    private let refill = 8192

    /// `count` fresh random bytes.
    public func bytes(count: Int) throws -> [UInt8] {
        guard count <= refill else { return try SecureRandom.bytes(count: count) }
        return try buffer.withLock { state in
            if state.offset + count > state.bytes.count {
                state.bytes = try SecureRandom.bytes(count: refill)
                state.offset = 0
            }
            defer { state.offset += count }
            return Array(state.bytes[state.offset ..< state.offset + count])
        }
    }
}

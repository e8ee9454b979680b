import Foundation
import QuartetCrypto
import Synchronization

/// Milliseconds since the Unix epoch from the system's real-time clock (0 for a clock set
/// before 1970: converting a negative time trapped, on every request, and the service manager
/// restarted the node into the same trap).
@Sendable public func wallClockMillis() -> UInt64 {
    wallClockMillis(at: Date())
}

/// `date` as milliseconds since the Unix epoch, clamped to 0 … 2⁶³ − 1.
public func wallClockMillis(at date: Date) -> UInt64 {
    let millis = date.timeIntervalSince1970 * 1000
    guard millis.isFinite, millis > 0 else { return 0 }
    return millis < 9.2e18 ? UInt64(millis) : UInt64(Int64.max)
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

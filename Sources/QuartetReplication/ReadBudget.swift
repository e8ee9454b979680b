/// How many bytes of batches a node serves one peer in answer to its requests: a token bucket
/// per member, kept across its connections (a reconnect does not refill it).
///
/// A request of ~30 bytes costs the server up to `ProtocolLimits.batchBytesBudget` (8 MiB) read
/// from its store and sent; `OutboundFlow` makes the peer read what it asked for, but a member
/// that reads quickly could ask for the same spans over and over, and keep the engine's queue
/// and the disk busy reading them. Past its credit a peer's requests wait (in its
/// `OutboundFlow`), to be served when the credit is back. The defaults are far above what a
/// catch-up needs (`bench replication` catches up at ~130,000 entries/s, ~40 MB/s, from all
/// peers together) and bound what one member can make a node read to 64 MiB a second.
///
/// Pure: the shell reports the time and the bytes served.
public struct ReadBudget: Sendable, Equatable {
    public struct Settings: Sendable, Equatable {
        /// Credit regained per second. Default 64 MiB.
        public var bytesPerSecond: Int = 64 << 20
        /// The most credit held (what a peer may be served at once after a quiet spell).
        /// Default 256 MiB.
        public var burstBytes: Int = 256 << 20
        public init() {}
    }

    public let settings: Settings
    /// Bytes the peer may still be served (negative after a batch larger than what was left).
    public private(set) var credit: Int
    private var atMillis: UInt64

    public init(settings: Settings = Settings(), nowMillis: UInt64) {
        self.settings = settings
        credit = settings.burstBytes
        atMillis = nowMillis
    }

    /// Credit regained since the last call (a clock that went back regains nothing).
    public mutating func refill(nowMillis: UInt64) {
        guard nowMillis > atMillis else { return }
        let elapsed = nowMillis - atMillis
        atMillis = nowMillis
        // rate × elapsed / 1000, without overflow for any rate and time: past Int.max, Int.max.
        let rate = UInt64(max(0, settings.bytesPerSecond))
        let (whole, overflow) = (rate / 1000).multipliedReportingOverflow(by: elapsed)
        let (gain, overflow1) = whole.addingReportingOverflow((rate % 1000) * min(elapsed, UInt64.max / 1000) / 1000)
        let regained = overflow || overflow1 ? Int.max : Int(min(gain, UInt64(Int.max)))
        let (total, overflow2) = credit.addingReportingOverflow(regained)
        credit = min(settings.burstBytes, overflow2 ? Int.max : total)
    }

    /// Whether the peer may be served now.
    public mutating func allows(nowMillis: UInt64) -> Bool {
        refill(nowMillis: nowMillis)
        return credit > 0
    }

    /// `bytes` were served.
    public mutating func spent(_ bytes: Int, nowMillis: UInt64) {
        refill(nowMillis: nowMillis)
        let (left, overflow) = credit.subtractingReportingOverflow(max(0, bytes))
        credit = overflow ? Int.min / 2 : max(left, Int.min / 2)
    }

    /// Milliseconds until the peer may be served again (0 when it may now).
    public func millisUntilAllowed() -> UInt64 {
        guard credit <= 0 else { return 0 }
        guard settings.bytesPerSecond > 0 else { return UInt64.max }
        // Bytes to regain for a credit above 0 (credit is never below Int.min / 2).
        let owed = Double(1 - credit)
        return UInt64(min(owed * 1000 / Double(settings.bytesPerSecond), 1e15)) + 1
    }
}

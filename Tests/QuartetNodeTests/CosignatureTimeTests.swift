@testable import QuartetNode
import QuartetLedger
import Testing

/// The times a witness's cosignature may carry, against the checkpoint's signing time: both
/// are chosen by others (a witness, a log), so the extremes must refuse, never trap or pass.
@Suite struct CosignatureTimeTests {
    @Test func aCosignatureMayNotBeDatedWellBeforeItsCheckpoint() {
        let skew = WitnessCollector.maxClockSkewSeconds
        let signed: UInt64 = 1_764_000_000_000
        #expect(WitnessCollector.datedAfterSigning(signed / 1000, signedMillis: signed))
        #expect(WitnessCollector.datedAfterSigning(signed / 1000 + 5, signedMillis: signed))
        #expect(WitnessCollector.datedAfterSigning(signed / 1000 - skew, signedMillis: signed))
        #expect(!WitnessCollector.datedAfterSigning(signed / 1000 - skew - 1, signedMillis: signed))
        #expect(!WitnessCollector.datedAfterSigning(0, signedMillis: signed))
        // Values a hostile peer picks: no overflow, the answer still right.
        #expect(WitnessCollector.datedAfterSigning(UInt64.max, signedMillis: signed))
        #expect(!WitnessCollector.datedAfterSigning(0, signedMillis: UInt64.max))
        #expect(WitnessCollector.datedAfterSigning(UInt64.max, signedMillis: UInt64.max))
    }

    /// The one rule both the log's answers and the other logs' cosigned checkpoints go by.
    @Test func aCosignatureDatedAheadOfTheClockOrBeforeSigningIsRefused() {
        let skew = WitnessCollector.maxClockSkewSeconds, now: UInt64 = 1_764_000_100
        let signed: UInt64 = 1_764_000_000_000
        #expect(WitnessCollector.dateRefusal(now, signedMillis: signed, now: now) == nil)
        #expect(WitnessCollector.dateRefusal(now + skew, signedMillis: signed, now: now) == nil)
        #expect(WitnessCollector.dateRefusal(now + skew + 1, signedMillis: signed, now: now)?.contains("ahead of this node's clock") == true)
        #expect(WitnessCollector.dateRefusal(UInt64.max, signedMillis: signed, now: now)?.contains("ahead") == true)
        #expect(WitnessCollector.dateRefusal(signed / 1000 - skew - 1, signedMillis: signed, now: now)?.contains("before the checkpoint was signed") == true)
        // A checkpoint without a signing time: only the clock bounds it.
        #expect(WitnessCollector.dateRefusal(0, signedMillis: nil, now: now) == nil)
    }

    @Test func theDefaultQuorumIsAMajority() {
        #expect([1, 2, 3, 4, 5].map(WitnessPolicy.majority(of:)) == [1, 2, 2, 3, 3])
    }
}

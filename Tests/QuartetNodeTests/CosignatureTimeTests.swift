@testable import QuartetNode
import QuartetCrypto
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

    /// "Witnessed by k of n" counts a kept line only if it is under the key listed for its
    /// witness now (finding 72): not a line under a key since replaced, nor one of a witness no
    /// longer listed, nor another witness's line filed under this one's id.
    @Test func onlyLinesUnderTheWitnessKeysListedNowAreCounted() throws {
        let body = "example.org/wales\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
        let old = try CosignatureSigner(name: "england-witness", key: Ed25519PrivateKey())
        let new = try CosignatureSigner(name: "england-witness", key: Ed25519PrivateKey())
        let scotland = try CosignatureSigner(name: "scotland-witness", key: Ed25519PrivateKey())
        func line(_ signer: CosignatureSigner) throws -> (line: String, time: UInt64) { (try signer.cosign(body: body, time: 1_764_000_000).line, 1_764_000_000) }
        let keys = ["england": new.verifier, "scotland": scotland.verifier]
        // Both under the keys listed now: both count.
        #expect(WitnessCollector.underListedKeys(["england", "scotland"], lines: ["england": try line(new), "scotland": try line(scotland)], keys: keys) == ["england", "scotland"])
        // England's line under its replaced key (same name, another key id): not counted.
        #expect(WitnessCollector.underListedKeys(["england", "scotland"], lines: ["england": try line(old), "scotland": try line(scotland)], keys: keys) == ["scotland"])
        // Scotland's line kept under England's id: not England's.
        #expect(WitnessCollector.underListedKeys(["england"], lines: ["england": try line(scotland)], keys: keys).isEmpty)
        // A witness no longer listed (no key), and a line that is not a signature line.
        #expect(WitnessCollector.underListedKeys(["wales"], lines: ["wales": try line(new)], keys: keys).isEmpty)
        #expect(WitnessCollector.underListedKeys(["england"], lines: ["england": ("not a line", 1)], keys: keys).isEmpty)
    }
}

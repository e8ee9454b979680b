import Foundation
import Logging
import QuartetCrypto
import QuartetLedger
@testable import QuartetNode
import QuartetReplication
import QuartetTestKit
import Testing

/// Equivocation evidence kept in `<data>/evidence/<log>.json`: files written before the
/// `Codable` type still load, and the type writes the same bytes.
@Suite struct EvidenceStoreTests {
    /// A real equivocation of log "wales": checkpoints of sizes 3 and 6 over different leaves.
    struct Equivocation {
        let signer: NoteSigner
        let evidence: Evidence

        init() throws {
            let signer = try NoteSigner(name: "quartet.test/wales", key: try Ed25519PrivateKey())
            self.signer = signer
            let leaves = (0..<6).map { Hash.leaf([UInt8($0)]) }
            let other = (0..<6).map { Hash.leaf([UInt8($0 + 100)]) }
            func note(_ size: Int, _ leaves: [Hash]) throws -> String {
                try signer.sign(Checkpoint(origin: "quartet.test/wales", size: UInt64(size),
                                           root: Merkle.root(ofLeaves: Array(leaves.prefix(size))), timeMillis: 1_700_000_000_000)).serialized
            }
            let proof = try Merkle.consistencyProof(from: 3, to: 6) { level, index in try Merkle.subtreeHash(of: other, level: level, index: index) }
            evidence = Evidence(log: "wales", first: try note(3, leaves), second: try note(6, other),
                                prefixRoot: Merkle.root(ofLeaves: Array(other.prefix(3))), proof: proof)
        }

        var federation: Federation {
            Federation(name: "quartet.test", version: 1, members: [
                .init(id: "wales", role: .nation, peer: HostPort(host: "127.0.0.1", port: 7401), api: "https://127.0.0.1:8401", log: "wales",
                      verifier: signer.verifier),
            ])
        }
    }

    /// What the node wrote before `EvidenceStore.File`: a dictionary through JSONSerialization.
    static func oldBytes(_ evidence: Evidence, proof: [String]? = nil) throws -> Data {
        let object: [String: Any] = ["log": evidence.log, "first": evidence.first, "second": evidence.second,
                                     "prefix_root": evidence.prefixRoot.base64, "proof": proof ?? evidence.proof.map(\.base64)]
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    }

    /// An equivocation and an evidence store in a new data directory (the caller removes it).
    static func fixture() throws -> (Equivocation, EvidenceStore) {
        (try Equivocation(), EvidenceStore(dataDirectory: try TestKit.temporaryDirectory("evidence")))
    }

    var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    @Test func aFileWrittenByTheOldCodeStillQuarantinesItsLog() throws {
        let (sample, store) = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: store.directory.deletingLastPathComponent()) }
        try FileManager.default.createDirectory(at: store.directory, withIntermediateDirectories: true)
        try Self.oldBytes(sample.evidence).write(to: store.url(log: "wales"))
        #expect(store.load(federation: sample.federation, logger: quiet) == ["wales": sample.evidence])
    }

    @Test func keptEvidenceIsByteForByteTheOldFormatAndLoadsBack() throws {
        let (sample, store) = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: store.directory.deletingLastPathComponent()) }
        try store.keep(sample.evidence)
        let written = try Data(contentsOf: store.url(log: "wales"))
        #expect(written == (try Self.oldBytes(sample.evidence)), "\(String(decoding: written, as: UTF8.self))")
        #expect(store.load(federation: sample.federation, logger: quiet) == ["wales": sample.evidence])
    }

    @Test func unreadableOrUnverifiableEvidenceIsIgnored() throws {
        let (sample, store) = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: store.directory.deletingLastPathComponent()) }
        try FileManager.default.createDirectory(at: store.directory, withIntermediateDirectories: true)
        // Not JSON; a hash that is not base64; a prefix root the proof does not lead from.
        let badHash = try Self.oldBytes(sample.evidence, proof: ["not base64!"] + sample.evidence.proof.dropFirst().map(\.base64))
        #expect(throws: LedgerError.self) {
            _ = try JSONDecoder().decode(EvidenceStore.File.self, from: badHash).evidence(log: "wales")
        }
        var wrongRoot = sample.evidence
        wrongRoot.prefixRoot = .leaf([42])
        for bytes in [Data("{".utf8), badHash, try Self.oldBytes(wrongRoot)] {
            try bytes.write(to: store.url(log: "wales"))
            #expect(store.load(federation: sample.federation, logger: quiet).isEmpty)
        }
        // No file: nothing quarantined.
        try FileManager.default.removeItem(at: store.url(log: "wales"))
        #expect(store.load(federation: sample.federation, logger: quiet).isEmpty)
    }

    /// A restored data directory is a copy someone handed over: its evidence file planted as a
    /// FIFO (which would hang the node's start) or as a link (to a device that never ends, or to
    /// real evidence elsewhere) is refused as unreadable, not waited on or followed.
    @Test func evidenceThatIsNotARegularFileIsIgnoredWithoutWaiting() throws {
        let (sample, store) = try Self.fixture()
        defer { try? FileManager.default.removeItem(at: store.directory.deletingLastPathComponent()) }
        try FileManager.default.createDirectory(at: store.directory, withIntermediateDirectories: true)
        #expect(mkfifo(store.url(log: "wales").path, 0o600) == 0)
        #expect(store.load(federation: sample.federation, logger: quiet).isEmpty)
        try FileManager.default.removeItem(at: store.url(log: "wales"))
        // Good evidence, but behind a link: not followed.
        let elsewhere = store.directory.deletingLastPathComponent().appendingPathComponent("elsewhere.json")
        try Self.oldBytes(sample.evidence).write(to: elsewhere)
        try FileManager.default.createSymbolicLink(atPath: store.url(log: "wales").path, withDestinationPath: elsewhere.path)
        #expect(store.load(federation: sample.federation, logger: quiet).isEmpty)
    }
}

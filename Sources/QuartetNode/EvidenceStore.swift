import Foundation
import Logging
import QuartetCrypto
import QuartetLedger
import QuartetReplication
import QuartetStore

/// Equivocation evidence kept on disk, one file per log: `<data>/evidence/<log>.json`, so a
/// quarantine outlives a restart (it is re-verified against the pinned key at every start).
struct EvidenceStore: Sendable {
    let directory: URL

    /// `<data>/evidence`.
    init(dataDirectory: URL) {
        directory = dataDirectory.appendingPathComponent("evidence")
    }

    /// The file's JSON: the `Evidence` with its hashes in standard base64. Written with sorted
    /// keys and pretty-printed, byte for byte what the node wrote before the type existed.
    struct File: Codable, Equatable {
        var log: String
        var first: String
        var second: String
        var prefixRoot: String
        var proof: [String]

        enum CodingKeys: String, CodingKey {
            case log, first, second, proof
            case prefixRoot = "prefix_root"
        }

        init(_ evidence: Evidence) {
            log = evidence.log
            first = evidence.first
            second = evidence.second
            prefixRoot = evidence.prefixRoot.base64
            proof = evidence.proof.map(\.base64)
        }

        /// The evidence for `log` (the file's name says which log; the `log` field is not trusted).
        func evidence(log: String) throws(LedgerError) -> Evidence {
            var hashes: [Hash] = []
            for (i, text) in proof.enumerated() {
                do { hashes.append(try Hash(base64: text)) } catch {
                    throw LedgerError(.malformed, "proof[\(i)]: \(error.message)")
                }
            }
            let prefix: Hash
            do { prefix = try Hash(base64: prefixRoot) } catch { throw LedgerError(.malformed, "prefix_root: \(error.message)") }
            return Evidence(log: log, first: first, second: second, prefixRoot: prefix, proof: hashes)
        }
    }

    func url(log: String) -> URL { directory.appendingPathComponent("\(log).json") }

    /// Writes (atomically, replacing any earlier) the evidence against `evidence.log`.
    func keep(_ evidence: Evidence) throws {
        if !FileManager.default.fileExists(atPath: directory.path) {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            DataDirectory.syncDirectory(directory.deletingLastPathComponent().path)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        // Durably (file and folder): the evidence is the log's quarantine across restarts.
        try RegularFile.writeDurably(Array(try encoder.encode(File(evidence))), to: url(log: evidence.log).path, mode: 0o644, replacing: true)
    }

    /// The kept evidence of every federation log that verifies against the member's pinned key.
    /// A file that cannot be read or does not verify is logged (naming it) and ignored.
    /// - Parameter chains: the logs' keys as stored (rotations); the pinned key otherwise.
    func load(federation: Federation, chains: [String: KeyChain] = [:], logger: Logger) -> [String: Evidence] {
        var result: [String: Evidence] = [:]
        for member in federation.members {
            let url = self.url(log: member.log)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            let evidence: Evidence
            do {
                // A regular file within the bound backup copies, never through a link: a restored
                // data directory's planted FIFO or link to a device would hang or fill memory.
                let bytes = try RegularFile.read(url.path, limit: DataDirectory.evidenceFileLimit, followSymlinks: false)
                evidence = try JSONDecoder().decode(File.self, from: Data(bytes)).evidence(log: member.log)
            } catch {
                logger.error("kept evidence cannot be read; ignoring it", metadata: ["file": "\(url.path)", "error": "\(error)"])
                continue
            }
            do {
                _ = try evidence.verify(with: chains[member.log] ?? KeyChain(pinned: member.verifier))
                result[member.log] = evidence
                logger.warning("log is quarantined by kept evidence", metadata: ["log": "\(member.log)"])
            } catch {
                logger.error("kept evidence does not verify; ignoring it", metadata: ["file": "\(url.path)", "error": "\(error)"])
            }
        }
        return result
    }
}

import Foundation
import QuartetCrypto
import QuartetLedger

/// The keys a `LogWriter` signs checkpoints with: the key in force after the log's rotations
/// (`KeyChain`), and the key before the last rotation with the time until which checkpoints
/// carry its signature too (clients that know only that key still verify them).
///
/// Resolved from the store and the data directory's key files when the writer starts, and
/// again when a held writer opens (`LogWriter.release`): a node that took its own log's tail
/// from its peers (a restored older copy, or `quartet recover`) may have taken a rotation with
/// it, and must sign with the key the log moved to, not the one its copy started with.
struct WriterKeys: Sendable {
    let signer: NoteSigner
    let overlap: (signer: NoteSigner, until: UInt64)?

    /// The keys for `log` as the store and the key files hold them now. Throws when the key
    /// file is not the key in force (the message names the key that is).
    static func resolve(store: LedgerStore, log: LogInfo) throws(StoreError) -> WriterKeys {
        let chain = try store.keyChain(log)
        let keys = try store.directory.signingKeys(log: log.name, chain: chain)
        do {
            let signer = try NoteSigner(name: log.origin, key: keys.current)
            guard let previous = keys.previous, let last = chain.rotations.last else { return WriterKeys(signer: signer, overlap: nil) }
            let rotated = try store.entries(log, from: last.index, limit: 1).first?.header.timeMillis ?? 0
            return WriterKeys(signer: signer, overlap: (try NoteSigner(name: log.origin, key: previous), rotated + DataDirectory.rotationOverlapMillis))
        } catch {
            throw StoreError(.key, "cannot sign checkpoints for \(log.origin)", cause: error)
        }
    }

    /// `checkpoint` (made at `time`) signed by the key in force, and by the previous key
    /// within the overlap.
    func sign(_ checkpoint: Checkpoint, time: UInt64) throws -> SignedNote {
        var signed = try signer.sign(checkpoint)
        if let overlap, time < overlap.until { signed.signatures += try overlap.signer.sign(checkpoint).signatures }
        return signed
    }
}

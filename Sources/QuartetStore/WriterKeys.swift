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
    /// `nowMillis`: when the overlap is judged over (default: the time of the log's newest
    /// checkpoint, which `sign` judges by; not the clock, which may run ahead at one start).
    static func resolve(store: LedgerStore, log: LogInfo, nowMillis: UInt64? = nil) throws(StoreError) -> WriterKeys {
        let chain = try store.keyChain(log)
        let keys = try store.directory.signingKeys(log: log.name, chain: chain)
        do {
            let signer = try NoteSigner(name: log.origin, key: keys.current)
            guard let previous = keys.previous, let last = chain.rotations.last else { return WriterKeys(signer: signer, overlap: nil) }
            let rotated = try store.entries(log, from: last.index, limit: 1).first?.header.timeMillis ?? 0
            let until = rotated + DataDirectory.rotationOverlapMillis
            // Past the overlap the old key signs nothing more: its file goes (else it stayed on
            // disk, and in every backup, for ever: whoever got it could sign checkpoints up to
            // the rotation that conflict with the log's and have it quarantined).
            let newest = try nowMillis ?? store.latestCheckpoint(log)?.checkpoint.timeMillis ?? 0
            if newest >= until {
                store.directory.removePreviousKey(log: log.name)
                return WriterKeys(signer: signer, overlap: nil)
            }
            return WriterKeys(signer: signer, overlap: (try NoteSigner(name: log.origin, key: previous), until))
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

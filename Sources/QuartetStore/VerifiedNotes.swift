import QuartetLedger
import Synchronization

/// The newest checkpoint note of each log that this store verified when it read it, so that
/// reading the same note again does not verify its signature again.
///
/// Every read of a log's latest checkpoint (its size, a proof, the frontier a batch is stored
/// on) checks the stored note's signature against the key in force: a note changed on disk is
/// caught where it is read. That check was most of a replica's work per small batch (an Ed25519
/// verification costs OpenSSL about 100 µs, and one append read the latest checkpoint a dozen
/// times across the node). A note is skipped only when its bytes equal the one verified last
/// for that log in this process (the key in force at a size never changes: rotations are
/// appended), so a changed row is still verified, and refused.
final class VerifiedNotes: Sendable {
    private let notes = Mutex<[Int64: (note: String, checkpoint: Checkpoint)]>([:])

    /// The checkpoint of `note` if it is the note of `log` verified last.
    func checkpoint(log: Int64, note: String) -> Checkpoint? {
        notes.withLock { notes in
            guard let known = notes[log], known.note == note else { return nil }
            return known.checkpoint
        }
    }

    /// Records that `note` of `log` verified as `checkpoint` (kept only if not older).
    func verified(log: Int64, note: String, checkpoint: Checkpoint) {
        notes.withLock { notes in
            if let known = notes[log], known.checkpoint.size > checkpoint.size { return }
            notes[log] = (note, checkpoint)
        }
    }
}

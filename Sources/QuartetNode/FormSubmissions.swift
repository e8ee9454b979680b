import Foundation
import QuartetCrypto
import QuartetLedger
import Synchronization

/// Each rendering of a form is one submission (docs/web.md, "The operator's forms"): the page
/// carries a random id of its own, and the first post with it appends; a repeat with the same
/// values — a double click, a post sent again after its answer was lost, the same page submitted
/// from two tabs — is answered with the first one's receipt and appends nothing. A log takes
/// nothing back, and a reading recorded twice shows as a correction nobody made. A repeat with
/// other values (a typo mended and sent again before the answer came) is refused, not answered
/// with a receipt of what it did not say. Keyed by the caller (what the form's anti-forgery
/// token is bound to) and the id, so one credential's ids mean nothing for another's. A post
/// admission refused frees its id: the form shown again may be sent again; one whose outcome is
/// not known (the commit failed after it may have reached the disk) keeps it, and a repeat is
/// told to look at the log first. Bounded: the oldest ended submissions are forgotten first (a
/// repeat of one forgotten appends again, as before this existed); those in flight are at most
/// the requests the node runs at once.
final class FormSubmissions: Sendable {
    /// What a post with a submission id should do.
    enum Turn: Equatable, Sendable {
        /// The first: append, then `finish`.
        case first
        /// Saved already, with these values, as this entry of the own log: answer its receipt.
        case saved(UInt64)
        /// The same submission with the same values is being appended by another request now:
        /// ask again shortly.
        case pending
        /// The submission was sent before with other values (saved as this entry, or still
        /// being appended): refuse.
        case differs(saved: UInt64?)
        /// An earlier post of it ended without a known outcome: refuse; the log says.
        case unknown
    }

    /// How the post that had the `.first` turn ended.
    enum Outcome: Sendable {
        case saved(UInt64)
        /// Admission refused it: nothing was appended (the id is free again).
        case refused
        /// It failed where an append may have been made.
        case unknown
    }

    /// Ended submissions kept (about 150 bytes each).
    static let capacity = 4096

    private enum Entry {
        case pending([UInt8])
        case saved([UInt8], UInt64)
        case unknown
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Keys of ended submissions, oldest first.
        var ended: [String] = []
    }

    private let state = Mutex(State())

    /// A new submission id: 128 random bits, hex.
    static func newID() throws -> String {
        Hex.encode(try SecureRandom.bytes(count: 16))
    }

    /// Whether `id` is one `newID` could have made (32 lower-case hex digits).
    static func isWellFormed(_ id: some StringProtocol) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The turn of a post of submission `id` by `author` whose values (what it would append)
    /// have SHA-256 `digest`; `.first` marks it pending.
    func begin(author: String, id: String, digest: [UInt8]) -> Turn {
        let key = author + "\n" + id
        return state.withLock { state in
            switch state.entries[key] {
            case nil:
                state.entries[key] = .pending(digest)
                return .first
            case .pending(let first)?:
                return first == digest ? .pending : .differs(saved: nil)
            case .saved(let first, let index)?:
                return first == digest ? .saved(index) : .differs(saved: index)
            case .unknown?:
                return .unknown
            }
        }
    }

    /// The post that had the `.first` turn of `id` ended so.
    func finish(author: String, id: String, _ outcome: Outcome) {
        let key = author + "\n" + id
        state.withLock { state in
            guard case .pending(let digest)? = state.entries[key] else { return }
            switch outcome {
            case .refused:
                state.entries[key] = nil
                return
            case .saved(let index):
                state.entries[key] = .saved(digest, index)
            case .unknown:
                state.entries[key] = .unknown
            }
            state.ended.append(key)
            if state.ended.count > Self.capacity {
                let dropped = state.ended.count - Self.capacity
                for old in state.ended.prefix(dropped) { state.entries[old] = nil }
                state.ended.removeFirst(dropped)
            }
        }
    }
}

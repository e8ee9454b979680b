import Foundation
import QuartetCrypto
import QuartetLedger
import Synchronization

/// Each rendering of a form is one submission (docs/web.md, "Forms"): the page carries a random
/// id of its own, and the first post with it appends; a repeat — a double click, a post sent
/// again after its answer was lost, the same page submitted from two tabs — is answered with the
/// first one's receipt and appends nothing. A log takes nothing back, and a reading recorded
/// twice shows as a correction nobody made. Keyed by the caller and the id, so one credential's
/// ids mean nothing for another's. A post that failed (refused, the log held) frees its id: the
/// form shown again may be sent again. Bounded: the oldest finished submissions are forgotten
/// first (a repeat of one forgotten appends again, as before this existed).
final class FormSubmissions: Sendable {
    /// What a post with a submission id should do.
    enum Turn: Equatable, Sendable {
        /// The first: append, then `finish`.
        case first
        /// Saved already as this entry of the own log: answer its receipt.
        case saved(UInt64)
        /// The same submission is being appended by another request now: ask again shortly.
        case pending
    }

    /// Finished submissions kept (about 100 bytes each).
    static let capacity = 4096

    private struct State {
        var entries: [String: UInt64?] = [:]
        /// Keys of finished submissions, oldest first.
        var finished: [String] = []
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

    /// The turn of a post of submission `id` by `author`; `.first` marks it pending.
    func begin(author: String, id: String) -> Turn {
        let key = author + "\n" + id
        return state.withLock { state in
            switch state.entries[key] {
            case nil:
                state.entries[key] = .some(nil)
                return .first
            case .some(nil):
                return .pending
            case .some(.some(let index)):
                return .saved(index)
            }
        }
    }

    /// The post that had the `.first` turn ended: saved as entry `index`, or (nil) not saved,
    /// which frees the id.
    func finish(author: String, id: String, index: UInt64?) {
        let key = author + "\n" + id
        state.withLock { state in
            guard let index else {
                state.entries[key] = nil
                return
            }
            state.entries[key] = .some(index)
            state.finished.append(key)
            if state.finished.count > Self.capacity {
                let dropped = state.finished.count - Self.capacity
                for old in state.finished.prefix(dropped) { state.entries[old] = nil }
                state.finished.removeFirst(dropped)
            }
        }
    }
}

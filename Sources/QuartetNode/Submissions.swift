import Foundation
import Logging
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetLedger
import QuartetStore
import QuartetTLS
import Synchronization

/// One submission, one append: the first request bearing a submission id appends; a repeat with
/// the same content — a double click, a request sent again after its answer was lost, the same
/// form submitted from two tabs, a script retrying — is answered with what the first saved and
/// appends nothing. A log takes nothing back, and a reading recorded twice shows as a
/// correction nobody made. A repeat with other content (a typo mended and sent again before
/// the answer came, a key reused by mistake) is refused, not answered with what it did not say.
/// Keyed by the caller and the id, so one caller's ids mean nothing for another's. A
/// request admission refused frees its id: it may be sent again; one whose outcome is not known
/// (the commit failed after it may have reached the disk) keeps it, and a repeat is told to look
/// at the log first. Bounded: the oldest ended submissions are forgotten first once their
/// weights pass `limit`; those in flight are at most the requests the node runs at once. The
/// API's keys are on disk too (`durable`, `SubmissionStore`: a day, the newest 100,000 and
/// 256 MiB): a key is recorded there before its append is queued, so a restart, or the
/// memory's limit, forgets none — asked again after a restart, one saved is answered as saved,
/// and one whose outcome the stop took (begun, nothing saved) is told to look at the log; none
/// is appended twice. The forms' ids are in memory only (`FormSubmissions`).
///
/// Two kinds: each rendering of an operator's form carries an id (`FormSubmissions`, saving
/// the entry's index; docs/web.md, "The operator's forms"), and the API's append routes take
/// an `Idempotency-Key` (`API.once`, saving the answer's bytes; docs/operations.md).
final class Submissions<Saved: Sendable & Equatable>: Sendable {
    /// What a request with a submission id should do.
    enum Turn: Equatable, Sendable {
        /// The first: append, then `finish`.
        case first
        /// Saved already, with this content: answer with what was saved.
        case saved(Saved)
        /// The same submission with the same content is being appended by another request now.
        case pending
        /// The submission was sent before with other content (saved, or still being appended):
        /// refuse.
        case differs(saved: Saved?)
        /// An earlier request of it ended without a known outcome: refuse; the log says.
        case unknown
    }

    /// How the request that had the `.first` turn ended.
    enum Outcome: Sendable {
        case saved(Saved)
        /// Admission refused it: nothing was appended (the id is free again).
        case refused
        /// It failed where an append may have been made.
        case unknown
    }

    /// Where submissions are kept across restarts, and how what they saved is written there.
    struct Durable: Sendable {
        let store: SubmissionStore
        /// The store's look-ups and beginnings, those that come together in one transaction.
        let begins: SubmissionBegins
        /// Keeps one kind's ids apart from another's in the store.
        let namespace: String
        let encode: @Sendable (Saved) -> [UInt8]
        let decode: @Sendable ([UInt8]) -> Saved?
        /// Where a failure to write the store is said (budgeted: one per request could come).
        let logger: Logger
        /// Told of every such failure, said or not (`quartet_submission_store_failures_total`).
        var failed: @Sendable () -> Void = {}
    }

    /// The total weight of the ended submissions kept.
    let limit: Int
    let durable: Durable?
    /// An ended submission's weight, from its key (caller and id) and what it saved (nil: its
    /// outcome is not known).
    private let weight: @Sendable (_ key: String, _ saved: Saved?) -> Int

    private enum Entry {
        /// New to memory, being looked up in the store (`recall`): every request of it waits
        /// (its digest is not known until the store answers).
        case recalling
        case pending([UInt8])
        case saved([UInt8], Saved)
        case unknown
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Keys of ended submissions and their weights, oldest first (dropped from the front
        /// once full: a ring, not an array shifted at every drop).
        var ended = CircularBuffer<(key: String, weight: Int)>()
        var total = 0
        /// Repeats waiting for a first under way (`turn`).
        var waiting = 0
    }

    private let state = Mutex(State())

    init(limit: Int, durable: Durable? = nil, weight: @escaping @Sendable (_ key: String, _ saved: Saved?) -> Int) {
        self.limit = limit
        self.durable = durable
        self.weight = weight
    }

    /// The turn of a request of submission `id` by `author` whose content (what it would
    /// append) has SHA-256 `digest`; `.first` marks it pending.
    func begin(author: String, id: String, digest: [UInt8]) -> Turn {
        let key = author + "\n" + id
        return state.withLock { state in
            switch state.entries[key] {
            case nil:
                state.entries[key] = durable == nil ? .pending(digest) : .recalling
                return .first
            case .recalling?:
                return .pending
            case .pending(let first)?:
                return first == digest ? .pending : .differs(saved: nil)
            case .saved(let first, let saved)?:
                return first == digest ? .saved(saved) : .differs(saved: saved)
            case .unknown?:
                return .unknown
            }
        }
    }

    /// `begin`, waiting while another request of the same submission with the same content is
    /// under way, until `deadline` (then `.pending`): a repeat is answered with that one's outcome.
    func turn(author: String, id: String, digest: [UInt8], until deadline: ContinuousClock.Instant) async throws -> Turn {
        var waited = false
        defer { if waited { state.withLock { $0.waiting -= 1 } } }
        while true {
            var turn = begin(author: author, id: id, digest: digest)
            if turn == .first, let durable { turn = try await recall(durable, author: author, id: id, digest: digest) }
            guard turn == .pending, ContinuousClock.now < deadline else { return turn }
            if !waited {
                waited = true
                state.withLock { $0.waiting += 1 }
            }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    /// Runs the append of a submission that had the `.first` turn, and records how it ended:
    /// saved (as `save` makes of its result), refused when `appendedNothing` says its error
    /// means nothing was appended, not known otherwise. The error is rethrown.
    func finishing<Result>(author: String, id: String, save: (Result) -> Saved, appendedNothing: (any Error) -> Bool,
                           _ append: () async throws -> Result) async throws -> Result {
        do {
            let result = try await append()
            let saved = save(result)
            // The store first, then memory: a repeat that finds memory ended, and then (the
            // memory's limit) the store, finds the same. Not synced, and a failure only said:
            // lost, the submission reads as begun with no known outcome (a repeat after a
            // restart is told to look at the log), never as not begun.
            if let durable {
                let key = Self.durableKey(durable, author: author, id: id), bytes = durable.encode(saved)
                do { try await onSubmissionPool { try durable.store.save(key, bytes) } } catch {
                    Self.said(durable, "cannot record what a submission saved (a repeat after a restart will be told to look at the log)", error)
                }
            }
            finish(author: author, id: id, .saved(saved))
            return result
        } catch {
            var refused = appendedNothing(error)
            // Forgotten in the store before memory frees it (a repeat waiting would otherwise
            // find the begun row); not forgotten there, it stays of unknown outcome in both.
            if refused, let durable {
                let key = Self.durableKey(durable, author: author, id: id)
                do { try await onSubmissionPool { try durable.store.forget(key) } } catch {
                    Self.said(durable, "cannot forget a refused submission (a repeat will be told to look at the log)", error)
                    refused = false
                }
            }
            finish(author: author, id: id, refused ? .refused : .unknown)
            throw error
        }
    }

    /// A failure of the store, said at most 120 times a minute.
    private static func said(_ durable: Durable, _ what: String, _ error: any Error) {
        durable.failed()
        guard submissionFailureLines.take().write else { return }
        durable.logger.warning("\(what)", metadata: ["file": "\(durable.store.path)", "error": "\(error)"])
    }

    static func durableKey(_ durable: Durable, author: String, id: String) -> String { durable.namespace + "\n" + author + "\n" + id }

    /// A submission memory does not know (marked `.recalling` by `begin`: requests of it wait
    /// meanwhile): what the store recorded of it before (a restart, or forgotten by the memory's
    /// limit), taken into memory as it ended; or, if nothing, it is recorded there as begun,
    /// durably, before it is appended. A failure to read or record frees it (nothing was
    /// appended) and is thrown (`SubmissionStore.Unrecorded`).
    private func recall(_ durable: Durable, author: String, id: String, digest: [UInt8]) async throws -> Turn {
        let key = author + "\n" + id
        let recorded: SubmissionStore.Recorded?
        do {
            let stored = Self.durableKey(durable, author: author, id: id)
            recorded = try await durable.begins.recallOrBegin(stored, digest: digest)
        } catch {
            state.withLock { state in
                if case .recalling? = state.entries[key] { state.entries[key] = nil }
            }
            Self.said(durable, "cannot record a submission: refused, nothing appended", error)
            throw SubmissionStore.Unrecorded(cause: "\(error)")
        }
        guard let recorded else {
            state.withLock { $0.entries[key] = .pending(digest) }
            return .first
        }
        let saved = recorded.saved.flatMap(durable.decode)
        state.withLock { $0.entries[key] = .pending(recorded.digest) }
        finish(author: author, id: id, saved.map { .saved($0) } ?? .unknown)
        guard let saved else { return .unknown }
        return recorded.digest == digest ? .saved(saved) : .differs(saved: saved)
    }

    /// Repeats waiting now for a first of theirs still under way.
    var waiting: Int { state.withLock { $0.waiting } }

    /// The request that had the `.first` turn of `id` ended so.
    func finish(author: String, id: String, _ outcome: Outcome) {
        let key = author + "\n" + id
        state.withLock { state in
            guard case .pending(let digest)? = state.entries[key] else { return }
            let entryWeight: Int
            switch outcome {
            case .refused:
                state.entries[key] = nil
                return
            case .saved(let saved):
                state.entries[key] = .saved(digest, saved)
                entryWeight = weight(key, saved)
            case .unknown:
                state.entries[key] = .unknown
                entryWeight = weight(key, nil)
            }
            state.ended.append((key, entryWeight))
            state.total += entryWeight
            // The newest is kept even alone past the limit.
            while state.total > limit, state.ended.count > 1 {
                let oldest = state.ended.removeFirst()
                state.entries[oldest.key] = nil
                state.total -= oldest.weight
            }
        }
    }
}

/// The store's work: one thread of its own (its writes are one at a time anyway), so that
/// neither the expensive reads on NIO's blocking pool (`ReadWork`) hold up an append's record,
/// nor the records those reads.
let submissionPool: NIOThreadPool = {
    let pool = NIOThreadPool(numberOfThreads: 1)
    pool.start()
    return pool
}()

/// The beginnings of submissions, group-committed: a request's look-up and record waits for the
/// transaction under way to end, then goes with every other that came meanwhile in the next
/// (one sync for all, as the ledger's writer commits appends), on `submissionPool`.
final class SubmissionBegins: Sendable {
    private struct Waiting {
        let key: String
        let digest: [UInt8]
        let continuation: CheckedContinuation<SubmissionStore.Recorded?, any Error>
    }
    private let store: SubmissionStore
    private let state = Mutex<(queue: [Waiting], flushing: Bool)>(([], false))
    /// The most taken into one transaction.
    static let batch = 256

    init(store: SubmissionStore) { self.store = store }

    func recallOrBegin(_ key: String, digest: [UInt8]) async throws -> SubmissionStore.Recorded? {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.queue.append(Waiting(key: key, digest: digest, continuation: continuation))
                guard !state.flushing else { return false }
                state.flushing = true
                return true
            }
            if start { submissionPool.submit { _ in self.flush() } }
        }
    }

    /// On the pool's thread: one transaction of those waiting, then, if more came meanwhile,
    /// the next as a job of its own — behind the saves queued in between, which a loop here
    /// would starve while keys kept coming.
    private func flush() {
        let taken = state.withLock { state -> [Waiting] in
            let taken = Array(state.queue.prefix(Self.batch))
            state.queue.removeFirst(taken.count)
            return taken
        }
        do {
            let found = try store.recallOrBegin(taken.map { ($0.key, $0.digest) }, nowMillis: wallClockMillis())
            for (waiting, recorded) in zip(taken, found) { waiting.continuation.resume(returning: recorded) }
        } catch {
            for waiting in taken { waiting.continuation.resume(throwing: error) }
        }
        let more = state.withLock { state -> Bool in
            if state.queue.isEmpty { state.flushing = false }
            return state.flushing
        }
        if more { submissionPool.submit { _ in self.flush() } }
    }
}

/// Runs `body` on `submissionPool` and waits for it, whether or not the task waiting is
/// cancelled meanwhile (`runIfActive` would skip it: a save skipped at a shutdown reads as not
/// known after the restart, a repeat told to look at the log instead of answered).
func onSubmissionPool(_ body: @escaping @Sendable () throws -> Void) async throws {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        submissionPool.submit { _ in continuation.resume(with: Result { try body() }) }
    }
}

/// The store's failure lines, per process.
let submissionFailureLines = LogBudget(lines: 120, per: .seconds(60))

/// The operator's forms: each rendering is one submission, saved as its entry's index.
typealias FormSubmissions = Submissions<UInt64>

extension Submissions where Saved == UInt64 {
    /// Ended form submissions kept (about 150 bytes each).
    static var capacity: Int { 4096 }

    /// In memory only: a form posted again after a restart is refused before its submission is
    /// looked at (its anti-forgery token was the old process's, `FormToken`), and the page
    /// reloaded carries a new id, so a store would never answer one.
    convenience init() {
        self.init(limit: Self.capacity, weight: { _, _ in 1 })
    }

    /// A new submission id: 128 random bits, hex.
    static func newID() throws -> String {
        Hex.encode(try SecureRandom.bytes(count: 16))
    }

    /// Whether `id` is one `newID` could have made (32 lower-case hex digits).
    static func isWellFormed(_ id: some StringProtocol) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

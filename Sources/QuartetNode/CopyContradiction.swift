import NIOConcurrencyHelpers
import QuartetCrypto
import QuartetLedger
import QuartetReplication
import QuartetStore

/// A checkpoint a log's key signed, set against this node's copy of the log: where the copy
/// holds the checkpoint's size with another root, the two are a split view, and the copy's
/// newest signed checkpoint with a consistency proof to it is the evidence every member can
/// check (`Evidence`, the prefix-root form). Three places meet such checkpoints: a witness
/// request whose checkpoint its copy contradicts, the checkpoint a witness cosigned before its
/// copy reached that size (a log can get a fork cosigned by witnesses whose copies lag, then
/// push them another history), and a member's served checkpoint (`OtherCosignatures`).
enum CopyContradiction {
    /// The evidence that `note` (whose checkpoint is `checkpoint`, its signature already checked
    /// by the caller) contradicts `info`'s copy, or nil when the copy agrees or is not yet that
    /// long. The note is kept with the origin's signature lines only (a note carries up to
    /// 64 KiB of lines by keys nobody checks).
    static func evidence(ledger: LedgerStore, info: LogInfo, note: SignedNote, checkpoint: Checkpoint) throws(StoreError) -> Evidence? {
        guard checkpoint.size > 0, let latest = try ledger.latestCheckpoint(info), latest.checkpoint.size >= checkpoint.size,
              let root = try ledger.root(info, size: checkpoint.size), root != checkpoint.root else { return nil }
        let proof = latest.checkpoint.size == checkpoint.size ? [] : try ledger.consistencyProof(info, from: checkpoint.size, to: latest.checkpoint.size).proof
        return Evidence(log: info.name, first: originLines(note, origin: checkpoint.origin).serialized, second: latest.note, prefixRoot: root, proof: proof)
    }

    /// `note` with the signature lines under the key name `origin` only: what evidence carries
    /// (a note may carry up to 64 KiB of lines by keys nobody checks, and other lines would
    /// make the same checkpoint look new to `SplitViewReports`' callers).
    static func originLines(_ note: SignedNote, origin: String) -> SignedNote {
        SignedNote(text: note.text, signatures: note.signatures.filter { $0.keyName.utf8.elementsEqual(origin.utf8) })
    }

    /// Whether the copy holds `size` with another root than `root`: the root of a checkpoint
    /// row stored at that size (one read, its signature checked when it was stored, not again:
    /// this runs inside every witness request), else the root from stored subtrees. The
    /// evidence itself is built from checked reads (`evidence`), and the engine checks it. Nil
    /// when it cannot tell: the copy is shorter, or cannot be read.
    static func contradicts(ledger: LedgerStore, info: LogInfo, size: UInt64, root: Hash) -> Bool? {
        guard size > 0 else { return false }
        do {
            if let stored = try ledger.storedCheckpointRoot(info, size: size) { return stored != root }
            guard let held = try ledger.root(info, size: size) else { return nil }
            return held != root
        } catch {
            return nil
        }
    }
}

/// Passes split views found against this node's copies to the engine (which checks the
/// evidence, quarantines the log and shares it), each contradicted checkpoint once, and at most
/// one a log a minute: a replayed request (with other signature lines or none) or a checkpoint
/// read again every 5 s repeats neither the log line nor the engine's signature checks, and a
/// writer signing a fresh fork per request is logged once a minute (its log is quarantined by
/// the first).
final class SplitViewReports: Sendable {
    private struct State {
        var sink: (@Sendable (Evidence) -> Void)?
        var seen: Set<[UInt8]> = []
        var order: [[UInt8]] = []
        var lastByLog: [String: ContinuousClock.Instant] = [:]
    }
    private let state = NIOLockedValueBox(State())
    private let clock: @Sendable () -> ContinuousClock.Instant
    static let remembered = 256
    static let perLogInterval = Duration.seconds(60)

    init(clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) { self.clock = clock }

    func connect(_ sink: @escaping @Sendable (Evidence) -> Void) { state.withLockedValue { $0.sink = sink } }

    /// Reports the evidence `make` builds that `checkpointText` (a contradicted checkpoint's
    /// body) of `log` contradicts a copy, unless that checkpoint was reported or the log was
    /// reported within the last minute; `make` is not even called then. Whether it reported.
    @discardableResult
    func report(log: String, checkpointText: String, _ make: () -> Evidence?) -> Bool {
        let key = SHA256.hash(Array(log.utf8) + [0] + Array(checkpointText.utf8))
        let now = clock()
        let due = state.withLockedValue { state in
            !state.seen.contains(key) && state.lastByLog[log].map { now - $0 >= Self.perLogInterval } ?? true
        }
        guard due, let evidence = make() else { return false }
        let sink = state.withLockedValue { state -> (@Sendable (Evidence) -> Void)?? in
            guard state.seen.insert(key).inserted else { return .none }
            state.order.append(key)
            if state.order.count > Self.remembered { state.seen.remove(state.order.removeFirst()) }
            state.lastByLog[log] = now
            if state.lastByLog.count > Self.remembered, let oldest = state.lastByLog.min(by: { $0.value < $1.value })?.key { state.lastByLog[oldest] = nil }
            return .some(state.sink)
        }
        guard let sink else { return false }
        sink?(evidence)
        return true
    }
}

import NIOConcurrencyHelpers
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
    /// long.
    static func evidence(ledger: LedgerStore, info: LogInfo, note: String, checkpoint: Checkpoint) throws(StoreError) -> Evidence? {
        guard checkpoint.size > 0, let latest = try ledger.latestCheckpoint(info), latest.checkpoint.size >= checkpoint.size,
              let root = try ledger.root(info, size: checkpoint.size), root != checkpoint.root else { return nil }
        let proof = latest.checkpoint.size == checkpoint.size ? [] : try ledger.consistencyProof(info, from: checkpoint.size, to: latest.checkpoint.size).proof
        return Evidence(log: info.name, first: note, second: latest.note, prefixRoot: root, proof: proof)
    }
}

/// Passes split views found against this node's copies to the engine (which checks the
/// evidence, quarantines the log and shares it), each once: a replayed request or a checkpoint
/// read again every 5 s repeats neither the log line nor the engine's signature checks.
final class SplitViewReports: Sendable {
    private let state = NIOLockedValueBox<(sink: (@Sendable (Evidence) -> Void)?, seen: Set<Evidence>, order: [Evidence])>((nil, [], []))
    static let remembered = 256

    func connect(_ sink: @escaping @Sendable (Evidence) -> Void) { state.withLockedValue { $0.sink = sink } }

    /// Whether `evidence` was new (and so passed on).
    @discardableResult
    func report(_ evidence: Evidence) -> Bool {
        let sink = state.withLockedValue { state -> (@Sendable (Evidence) -> Void)?? in
            guard state.seen.insert(evidence).inserted else { return .none }
            state.order.append(evidence)
            if state.order.count > Self.remembered { state.seen.remove(state.order.removeFirst()) }
            return .some(state.sink)
        }
        guard let sink else { return false }
        sink?(evidence)
        return true
    }
}

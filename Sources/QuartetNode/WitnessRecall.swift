import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetLedger
import QuartetStore

/// What this node's witness cosigned, learnt again from its peers at start (docs/witness.md,
/// "A witness's state must not be lost"; docs/security.md, finding 169).
///
/// A witness restored with an older state (a disk or VM snapshot that rolled its key and state
/// back together) cannot tell locally that it forgot what it cosigned since, and could cosign a
/// fork of it. Its peers can: every node keeps the cosignatures it read of each log
/// (`OtherCosignatures`, its own log's from its witnesses). So at start, for each other member's
/// log, the witness asks its peers for the newest checkpoint they hold that it cosigned
/// (`GET /v1/logs/{log}/checkpoint?cosigned-by=<this node>`), checks the log's signature and its
/// own cosignature on it, and raises its state to it (`WitnessStore.recall`). Until as many
/// peers as the own log's sync waits for (`ReplicationEngine.ownSyncAnswers`: 2 of 4 in a
/// five-member federation) have answered for a log, it cosigns nothing of that log (503 with the
/// reason); a peer that holds nothing (404) has answered too.
final class WitnessRecall: Sendable {
    private struct State {
        /// Per origin, the peers that answered.
        var heard: [String: Set<String>] = [:]
    }

    private let state = NIOLockedValueBox(State())
    /// Answers needed per log (0: none, every log open at once).
    let required: Int

    init(required: Int) {
        self.required = required
    }

    /// The answers a log waits for with `peers` peers now (a reload may have removed some).
    /// The log's own node's answer counts too: not counting it left a federation running three
    /// of its five members unable to witness (and the log's node is where its cosignatures are
    /// kept; a hostile log can keep them from the others anyway, docs/witness.md).
    private func needed(peers: Int) -> Int { min(required, peers) }

    /// Why the witness does not cosign `origin`'s checkpoints yet (nil: it does). `peers`: the
    /// peers there are now (`answerer` of each other member): answers of a member a reload
    /// removed, or changed, count no more.
    func refusal(origin: String, peers: [String]) -> String? {
        let needed = needed(peers: peers.count)
        guard needed > 0 else { return nil }
        return state.withLockedValue { s in
            let heard = s.heard[origin].map { heard in peers.count { heard.contains($0) } } ?? 0
            guard heard < needed else { return nil }
            return "this witness is learning from its peers what it cosigned of \(origin) since its state was last saved (\(heard) of the \(needed) answers it waits for); ask again shortly"
        }
    }

    /// Whether every log of `federation` but `me`'s is open.
    func done(_ federation: Federation, me: String) -> Bool {
        guard required > 0 else { return true }
        let peers = federation.members.filter { $0.id != me }
        let answerers = peers.map(Self.answerer)
        return peers.allSatisfy { log in refusal(origin: log.verifier.name, peers: answerers) == nil }
    }

    /// Who an answer is counted for: a member as the federation file has it now (its id, log
    /// key and API). A member removed and added again under its id with other keys or another
    /// address is another answerer: what it said before counts no more (finding 169).
    static func answerer(_ member: Federation.Member) -> String {
        "\(member.id) \(member.verifier.vkey) \(member.api)"
    }

    /// `peer` answered for `origin`.
    func heard(origin: String, from peer: String) {
        state.withLockedValue { s in _ = s.heard[origin, default: []].insert(peer) }
    }

    /// Whether `peer` has answered for `origin`.
    func hasHeard(origin: String, from peer: String) -> Bool {
        state.withLockedValue { $0.heard[origin]?.contains(peer) ?? false }
    }

    /// One round of asking: every peer, for every other member's log not yet open, that it has not
    /// answered for (the caller runs one round at a time: `WitnessingService`).
    func ask(witness: WitnessService, ledger: LedgerStore, live: LiveSettings, me: String, logger: Logger) async {
        guard required > 0 else { return }
        let federation = live.federation
        let logs = federation.members.filter { $0.id != me }
        guard !done(federation, me: me) else { return }
        let mine = witness.signer.verifier
        await withTaskGroup(of: Void.self) { group in
            for peer in federation.members where peer.id != me {
                let wanted = logs.filter { !self.hasHeard(origin: $0.verifier.name, from: Self.answerer(peer)) }
                guard !wanted.isEmpty, let address = peer.apiAddress else { continue }
                group.addTask {
                    guard let client = try? await KeepAliveClient.connect(context: live.contexts.client, node: peer.id, address: address,
                                                                          answerLimit: WitnessCollector.answerLimit) else { return }
                    for log in wanted {
                        let path = "/v1/logs/\(APIClient.segment(log.log))/checkpoint?cosigned-by=\(APIClient.segment(me))"
                        guard let (status, headers, body) = try? await client.sendWithHeaders(.GET, path, timeout: .seconds(5)) else { break }
                        switch status {
                        case 404:
                            self.heard(origin: log.verifier.name, from: Self.answerer(peer))
                        case 200:
                            // An answer to the query is marked; a node of a version without it
                            // answers the log's latest, which teaches nothing but is its answer.
                            // Counted once what it showed is kept (a store that failed asks again).
                            let text = String(decoding: body, as: UTF8.self)
                            let marked = headers.first(name: API.cosignedByField.canonicalName) == me
                            if self.learn(text, log: log, from: peer.id, mine: mine, marked: marked, witness: witness, ledger: ledger, logger: logger) {
                                self.heard(origin: log.verifier.name, from: Self.answerer(peer))
                            }
                        default:
                            // Not an answer (the peer's store failed, a version without the
                            // query, a refusal): asked again next round.
                            continue
                        }
                    }
                    await client.close()
                }
            }
        }
    }

    /// Raises the witness's state of `log` to the checkpoint `text` from `peer`, if it is one the
    /// log's key signed and this witness's own key cosigned, beyond what the state holds. Whether
    /// it is an answer: a `marked` one (to the query) that is not such a checkpoint is not (a
    /// peer's lie or fault, asked again), nor one that could not be kept; an unmarked one (a
    /// node of a version without the query answers the log's latest) teaches nothing but is.
    private func learn(_ text: String, log: Federation.Member, from peer: String, mine: CosignatureVerifier, marked: Bool,
                       witness: WitnessService, ledger: LedgerStore, logger: Logger) -> Bool {
        guard let note = try? SignedNote(parsing: text), let size = (try? Checkpoint(parsing: note.text))?.size,
              let (_, time) = OtherCosignatures.verifiedLine(note, by: mine) else { return !marked }
        let info = try? ledger.log(named: log.log)
        let keys = WitnessService.trustedKeys(log, size: size, ledger: ledger, info: info)
        guard let checkpoint = keys.lazy.compactMap({ try? $0.verifyCheckpoint(note) }).first else { return !marked }
        do {
            let millis = time.multipliedReportingOverflow(by: 1000)
            if let before = try witness.store.recall(origin: log.verifier.name, note: note, checkpoint: checkpoint, timeMillis: millis.overflow ? .max : millis.partialValue) {
                logger.warning("this witness had cosigned more of a log than its state held (a state restored from an older copy?): raised to what a peer showed it cosigned",
                               metadata: ["log": "\(log.log)", "peer": "\(peer)", "held": "\(before.map(String.init) ?? "nothing")", "cosigned": "\(size)"])
            }
            return true
        } catch {
            logger.error("cannot raise the witness state to what a peer showed it cosigned", metadata: ["log": "\(log.log)", "error": "\(error)"])
            return false
        }
    }
}

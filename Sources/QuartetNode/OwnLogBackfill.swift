import QuartetLedger
import QuartetReplication
import QuartetStore

/// The engine's side of `PayloadBackfill`: once the own log is synced, entries of it that came
/// back from peers as stubs this run are asked of the other peers, and a payload that comes
/// back fills its stub only where it matches the header's commitment (`fillStubs`). Runs on
/// the engine's queue, as the rest of the engine does. The view folded those entries as stubs,
/// so it is folded again from the store once payloads are filled (`onStubsFilled`,
/// `ViewMaintainer.refold`); `quartet recover` folds no view, and the node it prepares
/// folds its view from the store at start.
extension ReplicationEngine {
    /// The own log's name.
    private var ownLogName: String { replicator.settings.ownLog }

    /// Whether payloads of own-log stubs are still being asked for.
    var backfilling: Bool {
        guard let backfill else { return false }
        return !backfill.finished(offered: replicator.connectedPeers)
    }

    /// The own log is synced: ask for the payloads of its stubs, if any — those taken this run
    /// and those a run before could not fill (the lost-payloads record names every stub the own
    /// log took, and is looked up index by index, not by a pass over the log: payloads a
    /// restore lost, which a peer that was away then may hold).
    func startBackfill() {
        guard backfill == nil else { return }
        if let log = logs[ownLogName] {
            let recorded = lostRecorded ?? store.directory.lostPayloads()[ownLogName] ?? []
            do { ownStubs = try store.stubIndices(log, among: recorded.union(ownStubs)) } catch {
                logger.error("cannot look up the own log's stubs", metadata: ["log": "\(ownLogName)", "error": "\(error)"])
            }
        }
        guard !ownStubs.isEmpty else { return }
        backfill = PayloadBackfill(log: ownLogName, stubs: ownStubs)
        logger.notice("asking peers for payloads of own-log entries that came back as stubs", metadata: ["log": "\(ownLogName)", "stubs": "\(ownStubs.count)"])
        continueBackfill()
    }

    /// Each anti-entropy round: sends the next request if one is due (a peer connected since,
    /// or the last one ended), giving up on a peer that left its request unanswered too long.
    func continueBackfill() {
        guard var state = backfill, !stopped else { return }
        // Payloads filled since the last fold, held back by its spacing: folded once it is over.
        if backfillRefoldPending, let last = backfillRefoldedAt, ContinuousClock.now - last >= Self.backfillRefoldSpacing { refoldAfterBackfill(now: false) }
        let before = state.silent, slowBefore = state.slow
        let ask = state.tick(peers: replicator.connectedPeers)
        backfill = state
        let gaveUp = state.silent.subtracting(before), tooSlow = state.slow.subtracting(slowBefore), lapsed = state.lapsedNow
        for peer in gaveUp {
            record(ReplicationAlert(kind: .protocolViolation, log: ownLogName, peer: peer,
                                    message: "\(peer) left a request for payloads of this node's own log \(ownLogName) unanswered for \(PayloadBackfill.patienceRounds) rounds; asking the other peers"))
        }
        // Not a violation (an honest peer at its read budget, holding nothing to fill, can be
        // this slow): said, and the others asked.
        for peer in tooSlow {
            logger.notice("a peer's answers for payloads of the own log took \(PayloadBackfill.patienceInAllRounds) rounds in all and filled nothing; asking the other peers",
                          metadata: ["log": "\(ownLogName)", "peer": "\(peer)"])
        }
        for peer in lapsed {
            logger.notice("a peer whose connection dropped under a request for payloads of the own log was not asked again within \(PayloadBackfill.patienceRounds) rounds (not back, or others asked first); it is asked again in its turn",
                          metadata: ["log": "\(ownLogName)", "peer": "\(peer)"])
        }
        ask.map(sendBackfill)
        if ask == nil, !gaveUp.isEmpty || !tooSlow.isEmpty || !lapsed.isEmpty, state.finished(offered: replicator.connectedPeers) { finishedBackfill(state) }
    }

    func backfillDisconnected(_ peer: String) {
        guard var state = backfill else { return }
        let wasDone = state.done.contains(peer)
        let ask = state.disconnected(peer, peers: replicator.connectedPeers)
        backfill = state
        ask.map(sendBackfill)
        // Its third connection lost under a request may be the last thing the backfill waited on.
        if ask == nil, !wasDone, state.done.contains(peer), state.finished(offered: replicator.connectedPeers) { finishedBackfill(state) }
    }

    /// Takes `message` if it answers the backfill's request; returns false for anything else.
    func backfillReceived(_ message: Message, from peer: String) -> Bool {
        guard var state = backfill, !stopped else { return false }
        let ask: PayloadBackfill.Ask?
        switch message {
        case .entries(let batch) where state.isAnswer(log: batch.log, from: batch.from, peer: peer):
            var filled: [UInt64] = []
            // Only entries that decode, carry a payload and are still stubs here: the header
            // looked at first, the payload hashed (its commitment) only for a stub still
            // missing (an answer is up to 64 MiB, on the engine's queue).
            let entries = batch.entries.compactMap { wire -> Entry? in
                guard wire.payload != nil, let header = try? EntryHeader(decoding: wire.headerBytes),
                      header.log == ownLogName, state.missing.contains(header.index),
                      let entry = try? Entry(headerBytes: wire.headerBytes, payload: wire.payload) else { return nil }
                return entry
            }
            if let log = logs[ownLogName], !entries.isEmpty {
                do {
                    filled = try store.fillStubs(log, with: entries)
                    // Only a write clears it (an answer that filled nothing wrote nothing).
                    if !filled.isEmpty { store.writes.succeeded(.ownTail) }
                } catch {
                    logger.error("cannot fill own-log stubs", metadata: ["log": "\(ownLogName)", "peer": "\(peer)", "error": "\(error)"])
                    store.writes.failed(.ownTail, error, nowMillis: wallClockMillis())
                }
            }
            if !filled.isEmpty {
                refoldAfterBackfill(now: false)
                // Readers see alerts: which peer held which restricted payloads in full is what a
                // disclosure record says, and is for the node's log (its operator), not them.
                logger.notice("payloads of own-log entries that came back as stubs came from a peer",
                              metadata: ["log": "\(ownLogName)", "peer": "\(peer)", "entries": "\(Self.list(filled))"])
                record(ReplicationAlert(kind: .ownLogRecovered, log: ownLogName, peer: nil,
                                        message: "the payloads of \(filled.count) entr\(filled.count == 1 ? "y" : "ies") of this node's own log \(ownLogName) that came back as stubs came from a peer (the node's log says which)"))
            }
            ask = state.answered(end: batch.end, stored: filled, peers: replicator.connectedPeers)
        case .unavailable(let log, let from) where state.isAnswer(log: log, from: from, peer: peer):
            ask = state.unavailable(peers: replicator.connectedPeers)
        case .entries(let batch) where batch.log == ownLogName && (state.silent.contains(peer) || state.slow.contains(peer)):
            // The late answer of a peer given up on (a slow one, perhaps at its read budget):
            // not the replicator's, and not held against it.
            return true
        case .unavailable(ownLogName, _) where state.silent.contains(peer) || state.slow.contains(peer):
            return true
        default:
            return false
        }
        backfill = state
        if let ask {
            sendBackfill(ask)
        } else if state.finished(offered: replicator.connectedPeers) {
            finishedBackfill(state)
        }
        return true
    }

    /// Payloads filled: the view is folded again from the store — at most once per
    /// `backfillRefoldSpacing` while the backfill runs, and once more when it ends (a member filling one
    /// stub per answer made every answer a fold of every log from scratch).
    func refoldAfterBackfill(now finishing: Bool) {
        let clock = ContinuousClock.now
        if !finishing, let last = backfillRefoldedAt, clock - last < Self.backfillRefoldSpacing {
            backfillRefoldPending = true
            return
        }
        guard !finishing || backfillRefoldPending else { return }
        backfillRefoldPending = false
        backfillRefoldedAt = clock
        onStubsFilled?(ownLogName)
    }

    static let backfillRefoldSpacing = Duration.seconds(30)

    /// Says, once, what the backfill could not fill.
    private func finishedBackfill(_ state: PayloadBackfill) {
        refoldAfterBackfill(now: true)
        guard !backfillReported else { return }
        backfillReported = true
        let lost = state.lost
        logger.notice("own-log payload backfill finished", metadata: ["log": "\(ownLogName)", "lost": "\(lost.count)"])
        if !lost.isEmpty {
            record(ReplicationAlert(kind: .ownLogRecovered, log: ownLogName, peer: nil,
                                    message: "no connected peer holds the payload of \(lost.count) entr\(lost.count == 1 ? "y" : "ies") of this node's own log \(ownLogName)"
                                        + (state.silent.isEmpty ? "" : " (\(state.silent.sorted().joined(separator: ", ")) left the request unanswered)")
                                        + "; lost here (stubs kept, the log verifies): \(Self.list(lost))"))
        }
    }

    private func sendBackfill(_ ask: PayloadBackfill.Ask) {
        send(.request(log: ownLogName, from: ask.from), to: ask.peer)
    }
}

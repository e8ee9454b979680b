import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import QuartetLedger
import QuartetPolicy
import QuartetStore
import Synchronization

/// The log side of witnessing: each new checkpoint of this node's log goes, with a consistency
/// proof, to the witness of every other member that has one (C2SP tlog-witness), and the
/// cosignatures that verify are kept (`WitnessStore`) and served with the checkpoint.
///
/// (Over ~350 lines: the rounds, the requests and the answers are one state machine over one
/// `State`, kept together.)
///
/// Cadence: in rounds. A round sends one checkpoint (the newest when it starts) to every
/// witness, at most one request in flight per witness; the next round starts when no more
/// witnesses are still out than may be missing from a quorum, or after `roundMillis` (a slow,
/// absent or hostile witness does not hold the others back, and joins the round in force when
/// its request ends), and no sooner than
/// `minRoundMillis` after the one before: by the first commit after that (so the round takes
/// a checkpoint just signed), or `idleRoundMillis` after the round before if no commit comes.
/// So a checkpoint is witnessed on its own when appends are further apart than that, and under
/// load at most 1000 / `minRoundMillis` rounds a second are run, each cosigning the newest
/// checkpoint (which covers the ones before it): witnessing costs the federation a bounded
/// share of its CPU whatever the append rate. Each round cosigns one checkpoint by all
/// witnesses that answer, rather than each witness a different one. A 409 names the size the
/// witness holds; the request is sent again from it. Other failures back off (1 s doubling to
/// 60 s). Witnessing never holds an append: it runs after the commit on a serial queue of its
/// own (`queue`), which makes the request bodies, writes the requests to the witnesses' kept-
/// alive connections and checks and keeps the answers, off the writer's queue and the event
/// loops, and with no wait for Swift's cooperative pool.
final class WitnessCollector: Sendable {
    private struct State {
        var latest: StoredCheckpoint?
        /// The checkpoint of the round in force, and when the round started.
        var round: StoredCheckpoint?
        var roundStarted = ContinuousClock.now
        var witnesses: [String: Witness] = [:]
        var stopped = false
        /// Cosignatures gathered per size of the newest rounds, to see when one reaches a quorum.
        var gathered: [UInt64: Int] = [:]
        /// For the newest checkpoints that reached a quorum: the milliseconds from signing to it,
        /// and when (POSIX milliseconds).
        var quorumLatency: [(size: UInt64, millis: Double, at: UInt64)] = []
        /// When the newest checkpoints this writer committed were signed, by size (at most
        /// `signedKept`): the latency is measured from there on the monotonic clock, where the
        /// checkpoint's own time is whole wall-clock milliseconds (on average half a millisecond
        /// before the signature).
        var signedAt: [UInt64: ContinuousClock.Instant] = [:]
        /// A kick is scheduled for when the next round may start.
        var kickScheduled = false
        /// The largest size of this log this node's own witness cosigned, and when (monotonic;
        /// nil: not since this node started).
        var selfCosigned: UInt64 = 0
        var selfCosignedAt: ContinuousClock.Instant?
        /// The round's checkpoint this node's own witness cosigns once a quorum is gathered on
        /// it (or `ownCosignMillis` after the round's requests left, whichever comes first); a
        /// newer round's checkpoint replaces it (the newer one is cosigned instead).
        var ownPending: StoredCheckpoint?
        /// The witnesses a round asks last (`heldBackMillis`, by member id); and whose turn it
        /// is among equals.
        var heldBack: [String]?
        var heldTurn = 0
        /// The checkpoints of the newest rounds (at most `roundsKept`), oldest first: a witness
        /// whose copy lags is sent one of these, so lagging witnesses cosign the same sizes.
        var recentRounds: [StoredCheckpoint] = []
    }

    /// Round checkpoints kept for witnesses whose copies lag (`State.recentRounds`).
    static let roundsKept = 32

    /// A round that asks every witness at once, more than a quorum of them, asks a quorum at
    /// once and the rest once the quorum is in, one of the first asked fails, or this long after,
    /// whichever comes first. Those held back are the slowest to answer last time (among equals,
    /// a different one each round), so a slow witness does not hold the quorum up. The quorum's
    /// answers then do not share the two cores with the other witnesses' work (their requests,
    /// signature checks, fsyncs and cosignatures), and every witness still cosigns every
    /// round's checkpoint.
    static let heldBackMillis = 4

    /// A round is not waited on for longer than this.
    static let roundMillis = 2000

    /// Rounds start at least this far apart.
    static let minRoundMillis = 50
    /// A checkpoint left waiting by `minRoundMillis` is sent this long after the round before
    /// at the latest, if no newer commit started a round sooner.
    static let idleRoundMillis = 250

    /// How old a witness's cosignature of the newest checkpoint may grow before it is asked to
    /// cosign it again (a quiet log; `due`).
    static let recosignSeconds: Int64 = 600

    private let state = NIOLockedValueBox(State())
    /// Where rounds start and answers are handled, one at a time.
    private let queue = DispatchQueue(label: "quartet.witness-collector")
    /// A kick waits on `queue` (it reads the state when it runs, so one serves all since).
    private let kickQueued = Atomic<Bool>(false)
    /// The own log's newest leaves over its frontier (the writer's commits, in order): a round's
    /// consistency proofs are made from them with no store read (`RecentTree`; the read was
    /// most of the time between a commit and its round's requests leaving).
    private let recent = NIOLockedValueBox(RecentTree())
    /// The request bodies of the round in force, by old size (most witnesses share one).
    private let bodies = NIOLockedValueBox<(size: UInt64, byOld: [UInt64: String])>((0, [:]))
    /// One keep-alive connection per witness (used by one request at a time: the round's).
    private let connections = NIOLockedValueBox<[String: (address: HostPort, client: KeepAliveClient)]>([:])
    let store: WitnessStore
    private let ledger: LedgerStore
    let live: LiveSettings
    private let me: String
    private let ownLog: String
    private let logger: Logger
    /// This node's own witness cosigning a checkpoint of its log (`WitnessService.cosignOwn`).
    private let cosignOwn: (@Sendable (SignedNote, UInt64) -> SignedNote.Signature?)?
    /// Whether the own log takes appends (its end confirmed with the peers, `OwnLogGate`): the
    /// node's witness cosigns its own log only then, never a restored copy's checkpoint first.
    private let ownLogOpen: @Sendable () -> Bool
    /// Whether another process was seen signing the own log (`OwnLogGate.isSuperseded`).
    private let ownLogSuperseded: @Sendable () -> Bool
    /// A retry of the own cosignature is scheduled (the own log was not open yet).
    private let ownRetryScheduled = Atomic<Bool>(false)
    /// This node's clock against its witnesses', judged from their answers (`ClockCheck`).
    let clock: ClockWatch

    init(store: WitnessStore, ledger: LedgerStore, live: LiveSettings, me: String, ownLog: String, logger: Logger,
         cosignOwn: (@Sendable (SignedNote, UInt64) -> SignedNote.Signature?)? = nil, ownLogOpen: @escaping @Sendable () -> Bool = { true }, ownLogSuperseded: @escaping @Sendable () -> Bool = { false },
         splitViews: SplitViewReports = SplitViewReports(), clock: ClockWatch = ClockWatch()) {
        self.clock = clock
        self.cosignOwn = cosignOwn
        self.ownLogOpen = ownLogOpen
        self.ownLogSuperseded = ownLogSuperseded
        self.store = store
        self.ledger = ledger
        self.live = live
        self.me = me
        self.ownLog = ownLog
        self.logger = logger
        self.others = OtherCosignatures(store: store, ledger: ledger, live: live, me: me, splitViews: splitViews)
        // What was cosigned before a restart is known again without asking.
        // Only a line made by the key the member is listed under now: one of a key replaced
        // since is not the listed witness's word (it is asked afresh).
        if let newest = try? store.newestCosigned(log: ownLog) {
            let keys = Dictionary(live.federation.members.compactMap { member in member.witness.map { (member.id, $0) } }, uniquingKeysWith: { first, _ in first })
            var known: [String: Witness] = [:]
            for (witness, kept) in newest where witness != me {
                guard let key = keys[witness], let line = (try? store.cosignatures(log: ownLog, size: kept.size))?[witness],
                      !Self.underListedKeys([witness], lines: [witness: line], keys: [witness: key]).isEmpty else { continue }
                known[witness] = Witness(cosigned: kept.size, key: key, cosignedTime: kept.time)
            }
            state.withLockedValue { s in
                s.witnesses.merge(known) { _, new in new }
                s.selfCosigned = newest[me]?.size ?? 0
            }
        }
    }

    /// The members whose witnesses this log asks.
    var witnessMembers: [Federation.Member] { live.federation.members.filter { $0.id != me && $0.witness != nil } }

    /// A new checkpoint of this node's log was committed (signed at `signedAt`, when this
    /// writer signed it), with the batch's leaf hashes and the tree's frontier after it (kept
    /// for the rounds' consistency proofs: `recent`).
    func checkpointed(_ checkpoint: StoredCheckpoint, signedAt: ContinuousClock.Instant? = nil, leaves: [Hash]? = nil, tree: MerkleFrontier? = nil) {
        if let leaves, let tree, tree.size == checkpoint.checkpoint.size {
            recent.withLockedValue { $0.committed(from: tree.size - UInt64(leaves.count), leaves: leaves, after: tree) }
        }
        state.withLockedValue { s in
            if (s.latest?.checkpoint.size ?? 0) <= checkpoint.checkpoint.size { s.latest = checkpoint }
            if let signedAt {
                s.signedAt[checkpoint.checkpoint.size] = signedAt
                if s.signedAt.count > Self.signedKept, let oldest = s.signedAt.keys.min() { s.signedAt[oldest] = nil }
            }
        }
        kick()
    }

    /// Signing instants kept for the quorum latency (rounds run at most every `minRoundMillis`).
    static let signedKept = 64

    /// Starts a request to every witness that is idle, due and behind the newest checkpoint
    /// (on `queue`). Kicks that come while one waits for the queue are that one: under a
    /// stream of commits the queue holds one, not one per batch.
    func kick() {
        guard kickQueued.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        queue.async {
            self.kickQueued.store(false, ordering: .releasing)
            self.startRound()
        }
    }

    func stop() {
        state.withLockedValue { $0.stopped = true }
        let open = connections.withLockedValue { connections in
            defer { connections = [:] }
            return connections.values.map(\.client)
        } + others.stop()
        for client in open { Task { await client.close() } }
    }

    /// Per witness (member id): the size it last cosigned and when, and its last error.
    /// A member listed under another key than the one its state is about shows as not asked
    /// yet (it is a new witness: `startRound` asks it afresh).
    func status() -> [String: Witness] {
        let keys = Dictionary(witnessMembers.map { ($0.id, $0.witness) }, uniquingKeysWith: { first, _ in first })
        return state.withLockedValue { $0.witnesses }.reduce(into: [:]) { out, pair in
            let listed = keys[pair.key] ?? nil
            out[pair.key] = pair.value.key == listed || pair.value.inFlight ? pair.value : Witness(key: listed)
        }
    }

    /// Gives the clock check (`ClockWatch`) each listed witness's newest signed time that
    /// arrived in this run (the node's own witness is not one: its clock is this one): as
    /// answers arrive, and every few seconds (`WitnessingService`: a member a reload removed
    /// stops counting).
    func judgeClock() {
        let members = Set(witnessMembers.map(\.id))
        let readings = state.withLockedValue { s in
            s.witnesses.reduce(into: [String: ClockWatch.Reading]()) { out, pair in
                guard members.contains(pair.key), let reading = pair.value.clockSample else { return }
                out[pair.key] = reading
            }
        }
        clock.update(readings: readings)
    }

    private func startRound() {
        dispatchPrecondition(condition: .onQueue(queue))
        let now = ContinuousClock.now
        let members = witnessMembers
        // A member a reload removed (or left without a witness key) is asked nothing more: its
        // kept-alive connection is closed, not held until the node stops.
        let current = Set(members.map(\.id))
        let gone = connections.withLockedValue { connections in
            let gone = connections.filter { !current.contains($0.key) }
            for id in gone.keys { connections[id] = nil }
            return gone.values.map(\.client)
        }
        for client in gone { Task { await client.close() } }
        guard !members.isEmpty else { return }
        var wakeAt: ContinuousClock.Instant?
        var ownScheduled = false
        var holding = false
        var lowestOld: UInt64?
        let started: [(Federation.Member, StoredCheckpoint, UInt64)] = state.withLockedValue { s in
            guard !s.stopped, let latest = s.latest else { return [] }
            // A new round when the one in force is done or overdue, and not sooner than
            // minRoundMillis after it started (else: a kick then). Done means no more witnesses
            // still waiting for an answer than may be missing from a quorum: one slow or hostile
            // witness does not hold the others back (it joins the round in force when its
            // request ends).
            let waiting = members.filter { s.witnesses[$0.id]?.inFlight == true }.count
            let busy = waiting > members.count - WitnessPolicy.majority(of: members.count)
            if s.round == nil || s.round!.checkpoint.size < latest.checkpoint.size {
                let overdue = s.roundStarted + .milliseconds(Self.roundMillis)
                let earliest = s.roundStarted + .milliseconds(Self.minRoundMillis)
                if s.round == nil || (now >= earliest && (!busy || now >= overdue)) {
                    s.round = latest
                    s.roundStarted = now
                    s.recentRounds.append(latest)
                    if s.recentRounds.count > Self.roundsKept { s.recentRounds.removeFirst(s.recentRounds.count - Self.roundsKept) }
                } else if !s.kickScheduled {
                    // A newer checkpoint waits: it starts at the latest when the round is overdue.
                    s.kickScheduled = true
                    wakeAt = busy ? overdue : s.roundStarted + .milliseconds(Self.idleRoundMillis)
                }
            }
            let round = s.round!
            // The own witness's line of a quiet log is dated again too (a policy of every log
            // counts it), at most once per `recosignSeconds` whether or not it succeeds.
            let ownAgain = round.checkpoint.size > 0 && round.checkpoint.size == s.selfCosigned && round.checkpoint.size == latest.checkpoint.size
                && s.ownPending == nil && (s.selfCosignedAt.map { $0.duration(to: now) >= .seconds(Self.recosignSeconds) } ?? true)
            if ownAgain { s.selfCosignedAt = now }
            if round.checkpoint.size > max(s.selfCosigned, s.ownPending?.checkpoint.size ?? 0) || ownAgain {
                s.ownPending = round
                ownScheduled = true
            }
            var out: [(Federation.Member, StoredCheckpoint, UInt64)] = []
            let wall = UInt64(max(0, Date().timeIntervalSince1970))
            for member in members {
                var w = s.witnesses[member.id] ?? Witness(key: member.witness)
                // Listed under another key since it was last asked: a new witness (was: the old
                // key's size counted as the new key's, a quiet log not asking it for up to
                // `recosignSeconds`, its status and lag showing it up to date).
                if w.key != member.witness, !w.inFlight { w = Witness(key: member.witness) }
                guard !w.inFlight, w.retryAt.map({ $0 <= now }) ?? true else { continue }
                let behind = (w.cosigned ?? 0) < round.checkpoint.size || w.cosigned == nil
                guard behind || Self.due(w, round: round.checkpoint.size, newest: latest.checkpoint.size, wall: wall, now: now) else { continue }
                if !behind { w.recosignAsked = now }
                w.inFlight = true
                w.askedAt = now
                s.witnesses[member.id] = w
                out.append((member, round, w.cosigned ?? 0))
            }
            lowestOld = out.map(\.2).filter { $0 > 0 }.min()
            // Every witness asked at once, more than a quorum: the slowest last time wait
            // (`heldBackMillis`); among equals, the turn goes round.
            let quorum = WitnessPolicy.majority(of: members.count)
            if out.count == members.count, out.count > quorum, s.heldBack == nil {
                let turn = s.heldTurn
                s.heldTurn &+= 1
                let order = out.indices.sorted { a, b in
                    let la = s.witnesses[out[a].0.id]?.lastLatency ?? .zero, lb = s.witnesses[out[b].0.id]?.lastLatency ?? .zero
                    if la != lb { return la > lb }
                    return (a - turn % out.count + out.count) % out.count < (b - turn % out.count + out.count) % out.count
                }
                let held = Set(order.prefix(out.count - quorum))
                s.heldBack = held.sorted().map { out[$0].0.id }
                out = out.indices.filter { !held.contains($0) }.map { out[$0] }
                holding = true
            }
            return out
        }
        // The body is made once per round and old size (a consistency proof: a few reads of
        // the store) and written to each witness's open connection, with no task hop before
        // the requests leave.
        for (member, checkpoint, old) in started { submit(to: member, checkpoint, old: old) }
        if holding { queue.asyncAfter(deadline: .now() + .milliseconds(Self.heldBackMillis)) { self.releaseHeldBack() } }
        // The leaves below the lowest size a witness of the round holds are needed for no proof
        // the round makes (a witness further behind later is given one read from the store).
        // (Those held back too: `lowestOld` is over every witness of the round.)
        if let lowest = lowestOld { recent.withLockedValue { $0.advance(to: lowest) } }
        // Then this node's own witness, when the round's quorum is gathered: its signature and
        // row would take CPU the witnesses' answers wait for.
        if ownScheduled {
            queue.asyncAfter(deadline: .now() + .milliseconds(Self.ownCosignMillis)) { self.cosignOwnPending() }
        }
        if let wakeAt {
            Task {
                try? await Task.sleep(until: wakeAt, clock: .continuous)
                self.state.withLockedValue { $0.kickScheduled = false }
                self.kick()
            }
        }
    }

    /// Whether witness `w`, which holds the round's size `round` (the newest committed:
    /// `newest`), is asked to cosign it again: its cosignature is `recosignSeconds` old by this
    /// node's wall clock (`wall`, POSIX seconds), and it was not asked so within the last
    /// `recosignSeconds` on the monotonic clock (`now`) — a witness whose clock is behind, or
    /// that answers with an old time, is asked once per period, not in a loop. A cosignature says
    /// the tree was the largest its witness had seen as of its time: a quiet log's stays fresh,
    /// so a reader's `verify-checkpoint --max-age` tells it from an old checkpoint served (a kick
    /// comes every few seconds, `NodeServices`).
    static func due(_ w: Witness, round: UInt64, newest: UInt64, wall: UInt64, now: ContinuousClock.Instant) -> Bool {
        guard w.cosigned == round, round == newest, let time = w.cosignedTime else { return false }
        // Old by the wall clock, or arrived a period ago by the monotonic one: a wall clock set
        // back (by a day) would otherwise keep every cosignature "new" for as long, and a quiet
        // log's freshness would lapse at every reader's --max-age (finding 289).
        let oldByWall = wall >= time && wall - time >= UInt64(recosignSeconds)
        let oldByArrival = w.cosignedAt.map { $0.duration(to: now) >= .seconds(recosignSeconds) } ?? false
        guard oldByWall || oldByArrival else { return false }
        return w.recosignAsked.map { $0.duration(to: now) >= .seconds(recosignSeconds) } ?? true
    }

    /// Asks the witness a round held back (on `queue`): its quorum is in, or it waited long
    /// enough (one of the others is slow or failing).
    /// Each is sent the round in force (a newer round may have started meanwhile) from the size
    /// it holds, to the member as the federation file has it now (one a reload removed, or left
    /// without a witness key, is not asked).
    private func releaseHeldBack() {
        dispatchPrecondition(condition: .onQueue(queue))
        let members = witnessMembers
        let now = ContinuousClock.now
        let sends: [(Federation.Member, StoredCheckpoint, UInt64)] = state.withLockedValue { s in
            guard let held = s.heldBack else { return [] }
            s.heldBack = nil
            var sends: [(Federation.Member, StoredCheckpoint, UInt64)] = []
            for id in held {
                guard !s.stopped, let round = s.round, let member = members.first(where: { $0.id == id }) else {
                    s.witnesses[id]?.inFlight = false
                    continue
                }
                s.witnesses[id]?.askedAt = now
                sends.append((member, round, s.witnesses[id]?.cosigned ?? 0))
            }
            return sends
        }
        for (member, checkpoint, old) in sends { submit(to: member, checkpoint, old: old) }
    }

    /// The own witness's cosignature waits at most this long for the round's quorum.
    static let ownCosignMillis = 50

    /// This node's witness cosigns the checkpoint waiting for it (on `queue`): when a quorum
    /// gathered on a size at least its own (`quorumAt`), or at the timer (nil).
    private func cosignOwnPending(quorumAt size: UInt64? = nil) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let pending = state.withLockedValue({ s -> StoredCheckpoint? in
            guard !s.stopped, let pending = s.ownPending, size.map({ $0 >= pending.checkpoint.size }) ?? true else { return nil }
            s.ownPending = nil
            return pending
        }) else { return }
        cosignOwnCheckpoint(pending)
    }

    /// This node's witness cosigns its own log's checkpoint of the round (committed: the writer
    /// signs one root per size) and the line is kept with the others' and served with them. It
    /// does not count towards the log's own quorum (a majority of the other members'
    /// witnesses): it is for a policy of every log, which counts each log's own witness.
    private func cosignOwnCheckpoint(_ checkpoint: StoredCheckpoint) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let cosignOwn, live.federation.member(me)?.witness != nil, let note = try? SignedNote(parsing: checkpoint.note) else { return }
        guard ownLogOpen() else {
            // Held (a restored copy learning its log's end): asked again each second until open.
            if ownRetryScheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
                Task {
                    try? await Task.sleep(for: .seconds(1))
                    self.ownRetryScheduled.store(false, ordering: .releasing)
                    self.kick()
                }
            }
            return
        }
        let now = wallClockMillis()
        guard let line = cosignOwn(note, now) else { return }
        do { try store.keepCosignature(log: ownLog, size: checkpoint.checkpoint.size, witness: me, line: line.line, time: now / 1000) } catch {
            logger.warning("cannot keep this node's cosignature of its own checkpoint", metadata: ["size": "\(checkpoint.checkpoint.size)", "error": "\(error)"])
            return
        }
        state.withLockedValue { s in
            if checkpoint.checkpoint.size >= s.selfCosigned { s.selfCosignedAt = .now }
            s.selfCosigned = max(s.selfCosigned, checkpoint.checkpoint.size)
        }
    }

    /// The newest checkpoints (at most 1,000) that reached a quorum, with the milliseconds from
    /// their signing to the quorum.
    func quorumLatency() -> [(size: UInt64, millis: Double, at: UInt64)] { state.withLockedValue { $0.quorumLatency } }

    /// Sends the round's request to `member` on its open connection, or connects first (on a
    /// task); the answer is handled on `queue` (`answered`), and the round goes on there.
    private func submit(to member: Federation.Member, _ checkpoint: StoredCheckpoint, old: UInt64) {
        guard member.witness != nil else { return finish(member, checkpoint, .failure(WitnessFailure(message: "\(member.id) has no witness key"))) }
        guard let address = member.apiAddress else {
            return finish(member, checkpoint, .failure(WitnessFailure(message: "\(member.id)'s api URL names no host this node can dial")))
        }
        if let held = connections.withLockedValue({ $0[member.id] }), held.address == address, held.client.isOpen {
            return send(held.client, to: member, checkpoint, old: old, resent: false, deadline: .now() + Self.requestTimeout)
        }
        Task {
            let client: KeepAliveClient
            do {
                client = try await KeepAliveClient.connect(context: live.contexts.client, node: member.id, address: address, answerLimit: Self.answerLimit)
            } catch {
                return queue.async { self.finish(member, checkpoint, .failure(WitnessFailure(message: "\(error)"))) }
            }
            // Stopped meanwhile, or the member no longer a witness (a reload): the connection is
            // not kept.
            let current = self.witnessMembers.contains { $0.id == member.id }
            let replaced: KeepAliveClient?? = connections.withLockedValue { connections in
                guard current, !state.withLockedValue({ $0.stopped }) else { return .none }
                defer { connections[member.id] = (address, client) }
                return .some(connections[member.id]?.client)
            }
            guard let replaced else {
                await client.close()
                return queue.async { self.finish(member, checkpoint, .failure(WitnessFailure(message: "stopped"))) }
            }
            if let replaced { await replaced.close() }
            queue.async { self.send(client, to: member, checkpoint, old: old, resent: false, deadline: .now() + Self.requestTimeout) }
        }
    }

    /// An add-checkpoint request and its one resend after a 409 are answered within this, or fail.
    static let requestTimeout = TimeAmount.seconds(10)

    /// One add-checkpoint request from `old`; after a 409 naming another size it is sent once
    /// more from that size, within what is left of the first request's time.
    /// `older`: the witness's 503, after which this checkpoint, one its copy holds, is sent (`Answer.older`).
    private func send(_ client: KeepAliveClient, to member: Federation.Member, _ checkpoint: StoredCheckpoint, old: UInt64, resent: Bool, deadline: NIODeadline, older: WitnessFailure? = nil) {
        let size = checkpoint.checkpoint.size
        guard old <= size else {
            // The witness cosigned a later checkpoint of this log than the round's: anyone may
            // submit a log's checkpoints (another member, a reader racing this node's requests
            // to make them fail). This node's newest committed checkpoint is sent from there
            // instead, as the same request; only a size beyond everything this node committed
            // is a failure.
            // (Not once another process was seen signing the own log: what the store holds past the round's
            // checkpoint may be a batch committed after another signer was seen, published to
            // nobody.)
            if !ownLogSuperseded(), let newest = try? ledger.latestCheckpoint(try ledger.log(named: ownLog)), newest.checkpoint.size >= old, newest.checkpoint.size > size {
                return send(client, to: member, newest, old: old, resent: resent, deadline: deadline, older: older)
            }
            return finish(member, checkpoint, .failure(WitnessFailure(message: "witness \(member.id) claims to hold size \(old) of \(ownLog), beyond this node's \(size): the witness is wrong, or this log lost entries it once published")), older: older)
        }
        let note: SignedNote
        let body: String
        do {
            note = try SignedNote(parsing: checkpoint.note)
            body = try requestBody(note, size: size, root: checkpoint.checkpoint.root, old: old)
        } catch {
            return finish(member, checkpoint, .failure(WitnessFailure(message: "\(error)")), older: older)
        }
        let timeout = max(deadline - .now(), .milliseconds(1))
        let signedMillis = checkpoint.checkpoint.timeMillis
        client.start(.POST, "/witness/add-checkpoint", body: Data(body.utf8), contentType: "text/plain; charset=utf-8", timeout: timeout).whenComplete { result in
            // The answer is checked where it arrived (its connection's event loop), then handled
            // on `queue`: the round's answers come close together, and verified one after
            // another on the queue the third waited for the first two (half a millisecond of a
            // quorum's five, measured).
            let checked = result.map { status, answer in Self.check(member, note: note, signedMillis: signedMillis, status: status, answer: answer) }
            self.queue.async { self.handle(checked, from: client, to: member, checkpoint, note: note, old: old, resent: resent, deadline: deadline, older: older) }
        }
    }

    /// The answer to a request (on `queue`), checked (`check`).
    private func handle(_ result: Result<Checked, any Error>, from client: KeepAliveClient, to member: Federation.Member,
                        _ checkpoint: StoredCheckpoint, note: SignedNote, old: UInt64, resent: Bool, deadline: NIODeadline, older: WitnessFailure?) {
        let size = checkpoint.checkpoint.size
        // A reload removed the member or listed another witness key for it while the answer was
        // on its way: checked under the key it was sent to, it is not the listed witness's
        // word — neither kept nor counted toward the quorum.
        guard witnessMembers.first(where: { $0.id == member.id })?.witness == member.witness else {
            return finish(member, checkpoint, .failure(WitnessFailure(message: "witness \(member.id) is no longer listed under the key its answer was checked with")), older: older)
        }
        switch result {
        case .failure(let error):
            finish(member, checkpoint, .failure(WitnessFailure(message: "\(error)")), older: older)
        case .success(let checked):
            switch answered(member, size: size, old: old, checked) {
            case .done(let outcome):
                finish(member, checkpoint, outcome, older: older)
            case .resend(let held) where resent:
                finish(member, checkpoint, .failure(WitnessFailure(message: "witness \(member.id) kept answering 409 (last holding \(held))")), older: older)
            case .resend(let held):
                send(client, to: member, checkpoint, old: held, resent: true, deadline: deadline)
            case .older(let failure, let holds):
                // Its copy lags behind the round's checkpoint (under a stream of appends it may
                // stay more than the witness's wait behind, and was then never cosigned): the
                // newest checkpoint its copy holds, beyond what it cosigned, is sent instead,
                // once — a recent round's where one fits, so witnesses lagging by different
                // amounts cosign the same sizes (a quorum needs one), else the newest stored.
                // Committed before the round's checkpoint, it was published as that was.
                let rounds = state.withLockedValue { $0.recentRounds }
                guard !resent, !ownLogSuperseded(),
                      let earlier = rounds.last(where: { $0.checkpoint.size <= holds && $0.checkpoint.size > old && $0.checkpoint.size < size })
                          ?? (try? ledger.checkpoint(try ledger.log(named: ownLog), atMost: holds)),
                      earlier.checkpoint.size > old, earlier.checkpoint.size < size else {
                    return finish(member, checkpoint, .failure(failure))
                }
                send(client, to: member, earlier, old: old, resent: true, deadline: deadline, older: failure)
            }
        }
    }

    private enum Answer {
        case done(Result<(size: UInt64, time: UInt64?), WitnessFailure>)
        /// 409: the witness holds this size; send again from it.
        case resend(from: UInt64)
        /// 503: the witness's copy holds only `holds` entries; a checkpoint of at most that size
        /// is sent instead (else `failure`).
        case older(WitnessFailure, holds: UInt64)
    }

    /// A witness's checked answer to the request of `size` from `old`: a cosignature (kept), or
    /// the size it holds (sent again from it), or a failure.
    private func answered(_ member: Federation.Member, size: UInt64, old: UInt64, _ checked: Checked) -> Answer {
        switch checked {
        case .cosigned(let line, let time):
            do { try store.keepCosignature(log: ownLog, size: size, witness: member.id, line: line, time: time) } catch {
                return .done(.failure(WitnessFailure(message: "cannot keep witness \(member.id)'s cosignature: \(error)")))
            }
            return .done(.success((size, time)))
        case .holds(let held):
            // Its size is the one sent: it cosigned another root at this size (a split view).
            guard held != old else {
                return .done(.failure(WitnessFailure(message: "witness \(member.id) refuses size \(size) of \(ownLog): it holds another root at size \(held)")))
            }
            return .resend(from: held)
        case .failed(let message):
            return .done(.failure(WitnessFailure(message: message)))
        case .misdated(let message, let time):
            return .done(.failure(WitnessFailure(message: message, verifiedTime: time)))
        case .notYet(let message, let holds):
            let failure = WitnessFailure(message: message, retryAfter: Self.notYetRetry)
            if let holds, holds > old, holds < size { return .older(failure, holds: holds) }
            return .done(.failure(failure))
        }
    }

    /// A witness's request of the round ended: its state, the round's quorum, then the next
    /// requests (or a retry after the back-off).
    /// `older`: the witness's 503, after which the request was for a checkpoint its copy holds:
    /// whatever its outcome, the witness is asked the round's again after `notYetRetry`, as
    /// after the 503 (not at once: a witness answering 503 at once every time made two requests,
    /// a store read and a cosignature kept per commit; nor after the back-off of a witness that
    /// is down), and the 503 stays its state until it holds the round's checkpoint: its status
    /// and `quartet_witness_failing` say it lags, one warning per streak, with a short back-off.
    private func finish(_ member: Federation.Member, _ checkpoint: StoredCheckpoint, _ outcome: Result<(size: UInt64, time: UInt64?), WitnessFailure>, older: WitnessFailure? = nil) {
        dispatchPrecondition(condition: .onQueue(queue))
        var outcome = outcome
        if older != nil, case .failure(var failure) = outcome, failure.retryAfter == nil {
            failure.retryAfter = Self.notYetRetry
            outcome = .failure(failure)
        }
        let members = witnessMembers
        var quorumGathered: UInt64?
        var streakStarts = false
        let retry: Bool = state.withLockedValue { s in
            var w = s.witnesses[member.id] ?? Witness()
            streakStarts = w.failures == 0
            w.inFlight = false
            if let asked = w.askedAt {
                let succeeded: Bool
                if case .success = outcome { succeeded = true } else { succeeded = false }
                w.lastLatency = succeeded ? asked.duration(to: .now) : .nanoseconds(Self.requestTimeout.nanoseconds)
                w.askedAt = nil
            }
            switch outcome {
            case .success(let result):
                if w.cosigned != result.size {
                    s.gathered[result.size, default: 0] += 1
                    let quorum = WitnessPolicy.majority(of: members.count)
                    if s.gathered[result.size] == quorum { quorumGathered = result.size }
                    if quorumGathered != nil, older == nil, result.size == checkpoint.checkpoint.size, let signed = checkpoint.checkpoint.timeMillis {
                        let now = Double(wallClockMillis())
                        let millis = s.signedAt[result.size].map { ($0.duration(to: .now)).milliseconds } ?? now - Double(signed)
                        s.quorumLatency.append((result.size, max(0, millis), UInt64(now)))
                        if s.quorumLatency.count > 1000 { s.quorumLatency.removeFirst(s.quorumLatency.count - 1000) }
                    }
                    if s.gathered.count > 64, let oldest = s.gathered.keys.min() { s.gathered[oldest] = nil }
                }
                w.cosigned(result.size, time: result.time, now: .now, lagging: older)
            case .failure(let failure):
                // Asked for the size it had cosigned already: a request to cosign it again.
                w.failed(failure, now: .now, recosign: w.cosigned == checkpoint.checkpoint.size)
            }
            s.witnesses[member.id] = w
            if case .failure = outcome { return true }
            return older != nil
        }
        // A signed time arrived (a cosignature kept, or one refused for its date): the clock
        // check has a new reading.
        let timed = switch outcome {
        case .success(let result): result.time != nil
        case .failure(let failure): failure.verifiedTime != nil
        }
        if timed { judgeClock() }
        // The first failure of a streak is a warning, the rest are on /v1/witnesses and /metrics.
        let failures = state.withLockedValue { $0.witnesses[member.id]?.failures ?? 0 }
        if case .success = outcome, let older, streakStarts {
            logger.warning("witness request failed", metadata: ["witness": "\(member.id)", "size": "\(checkpoint.checkpoint.size)", "failures": "1", "error": "\(older.message)"])
        }
        if case .failure(let failure) = outcome {
            logger.log(level: failures == 1 ? .warning : .debug, "witness request failed",
                       metadata: ["witness": "\(member.id)", "size": "\(checkpoint.checkpoint.size)", "failures": "\(failures)", "error": "\(failure.message)"])
        }
        if retry {
            // Try again when the back-off ends (or sooner, on the next commit).
            let delay = state.withLockedValue { $0.witnesses[member.id]?.retryAt }.map { $0 - .now } ?? .seconds(1)
            Task {
                try? await Task.sleep(for: max(delay, .milliseconds(10)))
                self.kick()
            }
        }
        // The own witness's turn once the quorum is in; then the round may go on without this
        // witness (a failed one is kept out by its back-off).
        // The witnesses held back go once the quorum is in, or one of the first asked failed
        // (the quorum needs them then).
        if quorumGathered != nil || retry { releaseHeldBack() }
        if let quorumGathered { cosignOwnPending(quorumAt: quorumGathered) }
        startRound()
    }

    /// The add-checkpoint body for checkpoint `note` of `size` (signed root `root`) from `old`,
    /// made once per round and old size and kept for the round's other witnesses.
    private func requestBody(_ note: SignedNote, size: UInt64, root: Hash, old: UInt64) throws -> String {
        if let body = bodies.withLockedValue({ $0.size == size ? $0.byOld[old] : nil }) { return body }
        // From the kept leaves when they reach from `old` to `size` and make the signed root
        // (the proof then pins the root at `old` too); else from the store.
        let proof: [Hash]
        if old == 0 {
            proof = []
        } else if let made = recent.withLockedValue({ $0 }).proof(from: old, to: size), made.root == root {
            // (Built from a copy taken under the lock: the commit hook adding a batch never waits
            // for the hashing.)
            proof = made.proof
        } else {
            proof = try ledger.consistencyProof(try ledger.log(named: ownLog), from: old, to: size).proof
        }
        let body = Witnessing.Request(oldSize: old, proof: proof, note: note).body
        bodies.withLockedValue { cache in
            if cache.size != size { cache = (size, [:]) }
            cache.byOld[old] = body
        }
        return body
    }

    /// How often the other members' cosigned checkpoints are read (`OtherCosignatures`).
    static let refreshSeconds: Int64 = 5

    /// The largest answer taken from a witness or for a checkpoint: a note is at most 64 KiB.
    static let answerLimit = 128 << 10

    /// Reads the cosignatures the other members' logs gathered.
    let others: OtherCosignatures

    func refreshOthers() { others.refresh() }

    /// Waits for the other members' checkpoint reads still under way (after `stop`).
    func drainReads() async { await others.drain() }
}

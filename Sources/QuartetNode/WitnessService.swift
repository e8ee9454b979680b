import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetCrypto
import QuartetLedger
import QuartetReplication
import QuartetStore
import QuartetTLS
import Synchronization

/// This node as a witness (C2SP tlog-witness) for the other members' logs: it cosigns a
/// checkpoint of a member's log only if the member's pinned key signed it and it grows
/// consistently from the checkpoint it last cosigned for that log (and, where this node holds
/// the log, only if its replica has the same root at that size). docs/witness.md.
/// (Over 350 lines: the one decision a request gets, the checks of what was cosigned against
/// the copies, and the keys it trusts read in one place, in the order they are made.)
final class WitnessService: Sendable {
    let store: WitnessStore
    let signer: CosignatureSigner
    private let ledger: LedgerStore
    private let live: LiveSettings
    private let me: String
    private let logger: Logger
    /// Requests answered, by status (for /metrics).
    let answered = NIOLockedValueBox<[Int: Int]>([:])
    /// Told of a split view caught (two checkpoints of one size, or a checkpoint this node's
    /// copy contradicts), each once: the engine quarantines the log and shares the evidence.
    let splitViews = SplitViewReports()
    /// Whether this node holds a log quarantined (set by `Node` from the engine's
    /// `quarantinedLogs`).
    let quarantined = LateHook<String, Bool>()

    /// Why this node does not witness, if it does not (its answer is 503 with the reason).
    let disabled = NIOLockedValueBox<String?>(nil)
    /// Whether the witness key was there at start but its state was not, or the state is
    /// another key's (a restored or recovered data directory, a key copied back): such a
    /// witness must not cosign again under that key.
    let stateLost: Bool

    /// What it cosigned, learnt again from its peers at start before it cosigns a log.
    let recall: WitnessRecall

    /// `recallAnswers`: the peers' answers it waits for per log at start (`WitnessRecall`).
    init(directory: DataDirectory, ledger: LedgerStore, live: LiveSettings, me: String, origin: String, logger: Logger, recallAnswers: Int = 0) throws {
        recall = WitnessRecall(required: recallAnswers)
        let keyExisted = FileManager.default.fileExists(atPath: WitnessStore.keyPath(directory))
        let stateExisted = FileManager.default.fileExists(atPath: WitnessStore.databasePath(directory))
        let marker = WitnessStore.lostMarkerPath(directory)
        // A key found without its state is marked, so the (new, empty) state made below does
        // not pass for the witness's at the next start; a new key clears the mark.
        // (Durably: a marker a power cut took back would let the empty state pass.)
        if keyExisted && !stateExisted { try RegularFile.writeDurably(Array("the witness state was lost\n".utf8), to: marker, mode: 0o644, replacing: true) }
        let key = try WitnessStore.witnessKey(directory)
        signer = try CosignatureSigner(name: WitnessStore.keyName(origin: origin), key: key)
        store = try WitnessStore(directory)
        // The state is bound to the key it was made with: a key put back beside another key's
        // state (an old key copied over the new one a restore made, to avoid a federation change)
        // is a witness without its state too. A state from before keys were bound takes the key
        // it is found with (an upgrade), once.
        switch try store.boundKey() {
        case nil:
            try store.bind(to: key.publicKey)
        case let bound? where bound != key.publicKey:
            try RegularFile.writeDurably(Array("the witness state belongs to another key\n".utf8), to: marker, mode: 0o644, replacing: true)
            logger.critical("the witness key is not the one its state was made with (a key copied back?): this node does not witness under it",
                            metadata: ["key": "\(WitnessStore.keyPath(directory))"])
        default:
            break
        }
        stateLost = FileManager.default.fileExists(atPath: marker)
        self.ledger = ledger
        self.live = live
        self.me = me
        self.logger = logger
    }

    /// Each answer writes the witness state and syncs it. At most one is answered on the
    /// caller's thread (one of Swift's cooperative threads: two on two cores, and two members'
    /// requests blocked in a slow flush would stop every task of the node meanwhile); while one
    /// is, the others go to `answering`, a serial queue of the witness's own. A request alone
    /// (the usual case: one per round from each other member) takes no thread hop, whose two
    /// waits for a busy core cost a round's quorum about half a millisecond here.
    private let answeringInline = Atomic<Bool>(false)
    private let answering = DispatchQueue(label: "quartet.witness-answers")

    /// The answer to an add-checkpoint request body: status, content type and body. `clock`
    /// (ms) dates the cosignature, read once the request is decided. Decided on the caller's
    /// thread or the witness's own queue (above). A request refused only because this node's
    /// copy of the log does not hold the checkpoint yet (`Witnessing.copyGate`: usually its
    /// push is on its way, the request having overtaken it) is decided again once a stored
    /// batch reaches its size, for up to `copyWait`, then answered 503; at most
    /// `CopyGrowth.maxWaitersPerLog` wait for one log and `CopyGrowth.maxWaiters` in all
    /// (beyond that, the 503 at once).
    func addCheckpointQueued(_ body: [UInt8], clock: @escaping @Sendable () -> UInt64) async -> (status: Int, contentType: String, body: String) {
        let deadline = ContinuousClock.now + Self.copyWait
        while true {
            let answer = await decideQueued(body, clock: clock)
            if let (log, size) = answer.copyBehind, ContinuousClock.now < deadline, !Task.isCancelled,
               await copyGrowth.wait(log, holds: size, current: { [ledger] in try? ledger.heldTip(ledger.log(named: log)).size }, until: deadline) {
                continue
            }
            answered.withLockedValue { $0[answer.status, default: 0] += 1 }
            return (answer.status, answer.contentType, answer.body)
        }
    }

    /// How long a request waits for this node's copy of the log to catch up (`addCheckpointQueued`).
    static let copyWait = Duration.seconds(2)

    /// Told when a copy grows (`copyGrew`), for the requests waiting on it.
    private let copyGrowth = CopyGrowth()

    /// This node's copy of `log` holds `size` entries now (called by the replication engine as
    /// each batch is stored).
    func copyGrew(_ log: String, to size: UInt64) { copyGrowth.grew(log, to: size) }

    private func decideQueued(_ body: [UInt8], clock: @escaping @Sendable () -> UInt64) async -> Answer {
        if answeringInline.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            defer { answeringInline.store(false, ordering: .releasing) }
            return answer(body, clock: clock)
        }
        return await withCheckedContinuation { continuation in
            answering.async { continuation.resume(returning: self.answer(body, clock: clock)) }
        }
    }

    /// An answer: status, content type, body, and the log whose copy does not hold the
    /// checkpoint yet, and the checkpoint's size, when that is the only reason it refused
    /// (`Witnessing.copyGate`).
    private struct Answer: Sendable {
        var status: Int
        var contentType: String
        var body: String
        var copyBehind: (log: String, size: UInt64)?

        init(_ status: Int, _ contentType: String, _ body: String, copyBehind: (log: String, size: UInt64)? = nil) {
            self.status = status
            self.contentType = contentType
            self.body = body
            self.copyBehind = copyBehind
        }
    }

    private func answer(_ body: [UInt8], clock: () -> UInt64) -> Answer {
        if let reason = disabled.withLockedValue({ $0 }) { return Answer(503, "text/plain; charset=utf-8", "this node does not witness: \(reason)\n") }
        let request: Witnessing.Request
        do { request = try Witnessing.Request(parsing: body) } catch { return refusal(error) }
        // The log this checkpoint claims to be, if it is another member's: trusted under its
        // pinned key and the key in force in this node's replica (after a rotation inside the
        // log, unless the federation revoked it).
        let origin = request.note.text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        let witnessed = live.federation.members.first(where: { $0.verifier.name.utf8.elementsEqual(origin.utf8) && $0.id != me })
        // A body that is not a checkpoint is refused as such (400), not as an unknown log.
        let size: UInt64
        do { size = try Checkpoint(parsing: request.note.text).size } catch {
            // An origin no member's log has is answered 404 whatever the rest holds or its own
            // shape (C2SP: a witness answers an origin it does not know with 404, and must not
            // assume its format; Go's `go.sum database tree` has spaces); a known log's malformed
            // checkpoint is 400.
            if !origin.isEmpty, witnessed == nil {
                return refusal(Witnessing.Refusal(.notFound, "this witness does not know the log \(Federation.shown(origin, limit: 80))"))
            }
            return refusal(Witnessing.Refusal(.badRequest, "the checkpoint does not parse: \(error.message)"))
        }
        var logs: [String: [NoteVerifier]] = [:]
        var info: LogInfo?
        if let member = witnessed {
            if let refusal = recall.refusal(origin: origin, peers: live.federation.members.compactMap { $0.id == me ? nil : WitnessRecall.answerer($0) }) { return Answer(503, "text/plain; charset=utf-8", refusal + "\n") }
            // A log this node does not hold has no copy to check against; a store that cannot
            // say refuses the request (not answered as if it held none: no gate, no copy check).
            do { info = try ledger.log(named: member.log) } catch where error.code == .unknownLog { info = nil } catch {
                sayFault("cannot read this node's copy of a witnessed log", metadata: ["origin": "\(origin)", "error": "\(error)"])
                return Answer(500, "text/plain; charset=utf-8", "the witness cannot read its copy of the log\n")
            }
            do {
                logs[origin] = try Self.readTrustedKeys(member, size: size, ledger: ledger, info: info, stopped: { stop in self.sayStopped(member, stop) })
            } catch {
                // The witness's own fault, not a key refused: a 403 would read as final.
                sayFault("cannot read this node's copy of a witnessed log's keys", metadata: ["origin": "\(origin)", "error": "\(error)"])
                return Answer(500, "text/plain; charset=utf-8", "the witness cannot read its copy of the log's keys\n")
            }
        }
        // The signature is checked before the witness state is locked (it needs none of it).
        let signed: Checkpoint, logKey: NoteVerifier
        do { (signed, logKey) = try Witnessing.verified(request, logs: logs) } catch { return refusal(error) }
        // Where this node holds the log at the checkpoint's size, its replica must agree: the
        // root read first (a replica only grows), and a store that cannot say refuses the
        // request rather than skipping the check.
        let heldRoot: Hash?
        var copyHolds: UInt64?
        do {
            heldRoot = try info.flatMap { info throws(StoreError) -> Hash? in
                let tip = try ledger.heldTip(info)
                copyHolds = tip.size
                if signed.size > tip.size { return nil }
                return signed.size == tip.size ? tip.root : try ledger.root(info, size: signed.size)
            }
        } catch {
            sayFault("cannot read this node's copy of a witnessed log", metadata: ["origin": "\(origin)", "error": "\(error)"])
            return Answer(500, "text/plain; charset=utf-8", "the witness cannot read its copy of the log to check the checkpoint against it\n")
        }
        // The copy holds another root at this size: the request's checkpoint and the copy's
        // newest are evidence of a split view (the decision below refuses the request).
        if let heldRoot, heldRoot != signed.root, let info {
            reportSplitView(origin: origin, log: info.name, note: request.note, checkpoint: signed, info: info,
                            "split view: a log signed a checkpoint its copy here contradicts; reported as evidence")
        }
        // What this witness cosigned last, set against its copy before anything more is
        // cosigned (once per size): a log that got a fork cosigned while the copy lagged, then
        // pushed the copy another history, cannot move the witness on along the fork; and
        // nothing is cosigned beyond what the copy holds (`Witnessing.copyGate`: a log keeping
        // its pushes behind would otherwise keep a fork ahead of every comparison). The copy's
        // root at that size is in memory when one of its last batches ended there (else one
        // read).
        let copySize = copyHolds
        let decided: Result<WitnessStore.Accepted, Witnessing.Refusal>
        do {
            // What is kept of the note: the log's line that verified, not whatever else the
            // caller added — a reader padding each checkpoint with 60 KiB of lines made every
            // witness write that much per commit, and a line under another of the log's trusted
            // keys (a rotation's overlap) may be anything a submitter wrote.
            let kept = logKey.originOnly(request.note)
            decided = try store.witness(origin: origin, note: kept, clock: clock) { latest throws(Witnessing.Refusal) in
                if let latest, let info, latest.size != signed.size, contradictedByCopy(origin: origin, latest: latest, info: info) {
                    throw Witnessing.Refusal(.forbidden, "\(origin): the checkpoint this witness cosigned at size \(latest.size) contradicts its copy of the log (a split view); it cosigns no more of this log")
                }
                let accepted: Checkpoint
                do throws(Witnessing.Refusal) {
                    accepted = try Witnessing.decide(request, checkpoint: signed, latest: latest, held: { size in size == signed.size ? heldRoot : nil },
                                                     copySize: copySize)
                } catch {
                    // A quarantined copy grows no more: its log is told so, not to ask again.
                    if error.status == .unavailable, let info, self.quarantined(info.name) == true {
                        throw Witnessing.Refusal(.forbidden, "\(origin): this node holds log \(info.name) quarantined on evidence of a split view; its witness cosigns no more of it")
                    }
                    throw error
                }
                // A log this node holds quarantined (evidence of a split view, its witness's or a
                // peer's) is cosigned no more, on either history: moving on along one would lend
                // it a cosignature, and a copy quarantined before it held the size cosigned cannot
                // say which side a checkpoint is on. (Refusals above keep their answers: a 409
                // still names the size held.) Released as the quarantine is (docs/operations.md).
                if let info, self.quarantined(info.name) == true {
                    throw Witnessing.Refusal(.forbidden, "\(origin): this node holds log \(info.name) quarantined on evidence of a split view; its witness cosigns no more of it")
                }
                return accepted
            }
        } catch {
            ledger.writes.failed(.witness, error, nowMillis: wallClockMillis())
            sayFault("cannot store a witnessed checkpoint", metadata: ["origin": "\(origin)", "error": "\(error)"])
            return Answer(500, "text/plain; charset=utf-8", "the witness cannot store its state\n")
        }
        switch decided {
        case .failure(let refusal):
            if let conflicting = refusal.conflicting {
                // The checkpoint cosigned at that size as the decision saw it: read again here, a
                // request advancing the origin meanwhile would lose the evidence. Logged once
                // per conflicting checkpoint (a replayed request repeats nothing but the refusal).
                if let cosigned = refusal.cosigned, let other = try? Checkpoint(parsing: conflicting.text),
                   let log = live.federation.members.first(where: { $0.verifier.name == origin })?.log {
                    if splitViews.report(log: log, checkpointText: conflicting.text, {
                        Evidence(log: log, first: CopyContradiction.originLines(cosigned, origin: origin).serialized,
                                 second: CopyContradiction.originLines(conflicting, origin: origin).serialized, prefixRoot: other.root, proof: [])
                    }) {
                        logger.critical("split view: a log signed a checkpoint that conflicts with one this witness cosigned; kept as evidence",
                                        metadata: ["origin": "\(origin)", "reason": "\(refusal.message)"])
                    }
                }
            }
            var answer = self.refusal(refusal)
            // The only 503 a decision gives: the copy does not hold the checkpoint yet.
            if refusal.status == .unavailable, let info { answer.copyBehind = (info.name, signed.size) }
            return answer
        case .success(let accepted):
            // Only a write clears it: a checkpoint cosigned before, sent again, writes nothing.
            if accepted.stored { ledger.writes.succeeded(.witness) }
            do {
                let line = try signer.cosign(body: request.note.text, time: accepted.timeMillis / 1000)
                return Answer(200, "text/plain; charset=utf-8", line.line + "\n")
            } catch {
                sayFault("cannot cosign", metadata: ["origin": "\(origin)", "error": "\(error)"])
                return Answer(500, "text/plain; charset=utf-8", "the witness cannot sign\n")
            }
        }
    }

    /// Sets what this witness cosigned against its copies of the logs, once they reach that
    /// size: a log that got a checkpoint cosigned here before the copy held it, then pushed the
    /// copy another history, is caught (and reported, once) the next time this runs
    /// (every `WitnessCollector.refreshSeconds`), as the next request of that log would.
    func checkCosignedAgainstCopies() {
        guard disabled.withLockedValue({ $0 }) == nil else {
            aheadOfCopy.withLockedValue { $0 = [:] }
            return
        }
        let others = live.federation.members.filter { $0.id != me }
        agreed.withLockedValue { agreed in agreed = agreed.filter { key, _ in others.contains { $0.verifier.name == key } } }
        var ahead: [String: (size: UInt64, since: ContinuousClock.Instant)] = [:]
        let before = aheadOfCopy.withLockedValue { $0 }
        for member in others {
            guard let latest = try? store.latest(member.verifier.name), let info = try? ledger.log(named: member.log) else { continue }
            _ = contradictedByCopy(origin: member.verifier.name, latest: latest, info: info)
            // Cosigned beyond the copy: since when, for this size (a newer size cosigned means
            // the copy held it: `Witnessing.copyGate`).
            // (A quarantined copy grows no more, and has its own alert.)
            if self.quarantined(info.name) != true, let held = try? ledger.heldTip(info).size, latest.size > held {
                let since = before[member.log].flatMap { $0.size == latest.size ? $0.since : nil } ?? .now
                ahead[member.log] = (latest.size, since)
            }
        }
        aheadOfCopy.withLockedValue { $0 = ahead }
    }

    /// Per log, the size this witness last cosigned while its copy does not hold it yet, and
    /// since when (as `checkCosignedAgainstCopies` last found it).
    private let aheadOfCopy = NIOLockedValueBox<[String: (size: UInt64, since: ContinuousClock.Instant)]>([:])

    /// Per log of another member: the seconds this witness's newest cosigned checkpoint has been
    /// beyond its copy of the log (for /metrics). It cosigns only what its copy holds
    /// (`Witnessing.copyGate`), so this is a state learnt from its peers after a restore
    /// (`WitnessRecall`), a copy recovered shorter, or one from a version before the gate: it
    /// cosigns nothing more of that log until the copy catches up, and the size it vouched for
    /// is set against the copy then. Empty while it does not witness.
    func secondsAheadOfCopies() -> [String: Double] {
        guard disabled.withLockedValue({ $0 }) == nil else { return [:] }
        let now = ContinuousClock.now
        return aheadOfCopy.withLockedValue { $0.mapValues { Double($0.since.duration(to: now).components.seconds) } }
    }

    /// Whether what this witness cosigned last of `origin` (`latest`) is contradicted by its copy
    /// of the log (then reported, once: `SplitViewReports`). A size found agreeing while the copy
    /// already held it is remembered and not read again; a check that found the copy shorter, or
    /// could not read it, is made again next time. The copy's size is read first: read after,
    /// a copy reaching the size between the two reads would be remembered unchecked.
    private func contradictedByCopy(origin: String, latest: Witnessing.Latest, info: LogInfo) -> Bool {
        guard agreed.withLockedValue({ $0[origin] }) != latest.size else { return false }
        // Both from memory when the copy's last batches ended at that size (the usual case: the
        // witness cosigned a checkpoint its copy was pushed at the same time): on a request's
        // path, before the witness state is synced, two store reads were a fifteenth of it.
        let heldBefore = try? ledger.heldTip(info).size
        let verdict = ledger.recentRoot(info, size: latest.size).map { $0 != latest.root }
            ?? CopyContradiction.contradicts(ledger: ledger, info: info, size: latest.size, root: latest.root)
        switch verdict {
        case true?:
            if let checkpoint = try? Checkpoint(parsing: latest.note.text) {
                reportSplitView(origin: origin, log: info.name, note: latest.note, checkpoint: checkpoint, info: info,
                                "split view: a checkpoint this witness cosigned contradicts its copy of the log; reported as evidence")
            }
            return true
        case false? where (heldBefore ?? 0) >= latest.size:
            agreed.withLockedValue { $0[origin] = latest.size }
        default:
            break
        }
        return false
    }

    /// Builds and reports the evidence that `note` contradicts the copy, once (`SplitViewReports`).
    private func reportSplitView(origin: String, log: String, note: SignedNote, checkpoint: Checkpoint, info: LogInfo, _ message: Logger.Message) {
        let ledger = self.ledger
        if splitViews.report(log: log, checkpointText: note.text, { try? CopyContradiction.evidence(ledger: ledger, info: info, note: note, checkpoint: checkpoint) }) {
            logger.critical(message, metadata: ["origin": "\(origin)", "size": "\(checkpoint.size)"])
        }
    }

    /// Whether the witness still waits for its peers' answers on some log (`WitnessRecall`).
    /// Not while it does not witness (nothing to learn for; asked again once it does).
    var recalling: Bool {
        let federation = live.federation
        guard disabled.withLockedValue({ $0 }) == nil, federation.member(me)?.witness != nil else { return false }
        return !recall.done(federation, me: me)
    }

    /// One round of asking the peers what this witness cosigned (`WitnessRecall.ask`).
    func recallStep() async {
        guard disabled.withLockedValue({ $0 }) == nil else { return }
        await recall.ask(witness: self, ledger: ledger, live: live, me: me, logger: logger)
    }

    /// What this witness last cosigned of each other member's log, as signed notes carrying its
    /// cosignature line, made again at the time it carried (signatures are deterministic: the
    /// line it gave, or for a state raised by a peer's word, one dated no earlier). Each note
    /// is the checkpoint's text, the lines of the keys the log may sign that size with (at most
    /// `logLinesServed`: a log cannot pad the answer with lines of other keys, or bury this
    /// witness's line under lines claiming its key) and this witness's line last. Nil while it
    /// does not witness (a lost state says nothing). Peers keep the lines (`OtherCosignatures`):
    /// what it cosigned is then known beyond the log's own node, which could withhold it.
    /// Made once per change of the state (any reader may ask, often).
    func cosignedNotes() throws(StoreError) -> [String]? {
        guard disabled.withLockedValue({ $0 }) == nil, !stateLost else { return nil }
        let federation = live.federation
        let generation = store.latestGeneration
        let made = cosignedMade.withLockedValue { $0 }
        if let made, made.generation == generation, made.federation == federation.version { return made.notes }
        // One caller at a time makes it again (each read of the state and each cosignature is
        // on the witness's write connection); the others are answered what was made before.
        if let made, !cosignedMaking.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged { return made.notes }
        defer { if made != nil { cosignedMaking.store(false, ordering: .releasing) } }
        var notes: [String] = []
        for (origin, latest, timeMillis) in try store.allLatest() {
            guard let member = federation.members.first(where: { $0.id != me && $0.verifier.name.utf8.elementsEqual(origin.utf8) }),
                  let line = try? signer.cosign(body: latest.note.text, time: timeMillis / 1000) else { continue }
            // The line of each key the log may sign this size with (the one the witness checked
            // comes first for its key: Go's rule), nothing else the submitter added.
            let keys = Self.trustedKeys(member, size: latest.size, ledger: ledger, info: try? ledger.log(named: member.log))
            var logLines: [SignedNote.Signature] = []
            for key in keys {
                guard let mine = key.originOnly(latest.note).signatures.first, !logLines.contains(mine) else { continue }
                logLines.append(mine)
            }
            notes.append(SignedNote(text: latest.note.text, signatures: Array(logLines.prefix(Self.logLinesServed)) + [line]).serialized)
        }
        cosignedMade.withLockedValue { $0 = (generation, federation.version, notes) }
        return notes
    }

    /// The lines of a log's key name served with a note it submitted (its key and, across a
    /// rotation, the next).
    static let logLinesServed = 2

    /// What `cosignedNotes` last made, and of which state and federation file.
    private let cosignedMade = NIOLockedValueBox<(generation: Int, federation: UInt64, notes: [String])?>(nil)
    /// A caller is making it again (`cosignedNotes`).
    private let cosignedMaking = Atomic<Bool>(false)

    /// Per origin, the size last cosigned that the copy was found to agree with.
    private let agreed = NIOLockedValueBox<[String: UInt64]>([:])

    /// This node's cosignature of its own log's checkpoint `note`, dated `nowMillis` (nil while
    /// it does not witness). Its own log needs no witness state beside the ledger: the writer
    /// signs one root per size, and only checkpoints it committed are given here
    /// (`WitnessCollector`); it lets a policy of every log, which counts each log's own witness
    /// (`quartet policy` without `--log`), be met with one other witness down (docs/witness.md).
    func cosignOwn(_ note: SignedNote, nowMillis: UInt64) -> SignedNote.Signature? {
        guard disabled.withLockedValue({ $0 }) == nil else { return nil }
        do { return try signer.cosign(body: note.text, time: nowMillis / 1000) } catch {
            logger.error("cannot cosign this node's own checkpoint", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The keys of `member`'s log a checkpoint of `size` may be signed by (`trustedKeys(size:…)`),
    /// from this node's copy of the log where it holds one; none while that copy cannot be read
    /// (falling back to every key the federation names would trust a key the log rotated away
    /// from, for as long as the store fails). The copy's rotations are followed as replication
    /// follows them, with the federation's revocations and named keys
    /// (`Federation.Member.keyChain(following:)`): a rotation stored before the federation
    /// revoked the key that signed it, to a key the federation names nowhere (a thief's), stops
    /// the chain before it, so neither that key nor any later one is trusted; `stopped` is told.
    static func trustedKeys(_ member: Federation.Member, size: UInt64, ledger: LedgerStore, info: LogInfo?,
                            stopped: (KeyChain.Stop) -> Void = { _ in }) -> [NoteVerifier] {
        (try? readTrustedKeys(member, size: size, ledger: ledger, info: info, stopped: stopped)) ?? []
    }

    /// `trustedKeys`, throwing when the copy's key chain or size cannot be read.
    static func readTrustedKeys(_ member: Federation.Member, size: UInt64, ledger: LedgerStore, info: LogInfo?,
                                stopped: (KeyChain.Stop) -> Void = { _ in }) throws(StoreError) -> [NoteVerifier] {
        guard let info else { return member.logKeys(forSize: size) }
        let stored = try ledger.keyChain(info)
        let held = try ledger.heldTip(info).size
        let followed = member.keyChain(following: stored.rotations)
        if let stop = followed.stopped { stopped(stop) }
        return trustedKeys(size: size, chain: followed.chain, held: held, current: member.current, revoked: member.revoked)
    }

    /// Logs once (per log and rotation) that the witness's copy of `member`'s log holds a
    /// rotation the federation disowns, so its chain stops before it.
    private func sayStopped(_ member: Federation.Member, _ stop: KeyChain.Stop) {
        let key = "\(member.log)\u{0}\(stop.rotation.index)\u{0}\(stop.rotation.verifier.vkey)"
        guard stopsSaid.first(key) else { return }
        logger.warning("the witness's copy of a log holds a key rotation the federation file disowns: the log's keys are followed only up to it, and the key it rotates to (and any later one) is trusted for nothing; the entries are kept",
                       metadata: ["log": "\(member.log)", "index": "\(stop.rotation.index)", "key": "\(stop.rotation.verifier.vkey)", "reason": "\(stop.reason)"])
    }

    /// A fault of this node's (its store, its key) met while answering a request: logged within
    /// a budget (`faultLines`), as anyone who may post add-checkpoint requests can repeat them.
    private func sayFault(_ message: Logger.Message, metadata: Logger.Metadata) {
        let taken = faultLines.take()
        guard taken.write else { return }
        var metadata = metadata
        if taken.dropped > 0 { metadata["faults_not_logged"] = "\(taken.dropped)" }
        logger.error(message, metadata: metadata)
    }

    /// The stopped chains already logged (`sayStopped`).
    private let stopsSaid = OnceLines()

    /// The keys a checkpoint of `size` of a log this node holds `held` entries of may be signed
    /// by, as replication checks them: the key in force at that size in the log's key chain
    /// (`chain`: the pinned key and the rotations held) — a key the log rotated away from signs
    /// nothing beyond its rotation, so whoever still has it cannot get a fork cosigned (it was
    /// trusted at every size until the federation revoked it). Beyond what is held a rotation
    /// not replicated yet may have moved the key: the key the federation names as current
    /// (`current_vkey`) too. A key the federation revoked at or below `size` is never trusted.
    static func trustedKeys(size: UInt64, chain: KeyChain, held: UInt64, current: NoteVerifier?, revoked: [Ed25519PublicKey: UInt64]) -> [NoteVerifier] {
        var keys = [chain.verifier(forSize: size)]
        if size > held, let current, current.publicKey != keys[0].publicKey { keys.append(current) }
        return keys.filter { key in revoked[key.publicKey].map { size <= $0 } ?? true }
    }

    private func refusal(_ refusal: Witnessing.Refusal) -> Answer {
        if refusal.status == .conflict, let size = refusal.size { return Answer(409, "text/x.tlog.size", "\(size)\n") }
        return Answer(refusal.status.rawValue, "text/plain; charset=utf-8", refusal.message + "\n")
    }
}

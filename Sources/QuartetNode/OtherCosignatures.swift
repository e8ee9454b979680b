import Foundation
import NIOConcurrencyHelpers
import QuartetAPI
import QuartetLedger
import QuartetStore

/// The cosignatures of the other members' logs, for the view's "witnessed by k of n": every
/// `WitnessCollector.refreshSeconds` each member's checkpoint is read as its node serves it,
/// and the cosignature lines on it that verify under the federation's witness keys are kept
/// (`WitnessStore`). They travel by reading, not in the replication protocol (docs/witness.md).
final class OtherCosignatures: Sendable {
    private let store: WitnessStore
    private let ledger: LedgerStore
    private let live: LiveSettings
    private let me: String
    private let splitViews: SplitViewReports

    init(store: WitnessStore, ledger: LedgerStore, live: LiveSettings, me: String, splitViews: SplitViewReports = SplitViewReports()) {
        self.splitViews = splitViews
        self.store = store
        self.ledger = ledger
        self.live = live
        self.me = me
    }

    /// Forgets the open connections and returns them, to be closed; reads under way end within
    /// their timeouts (`drain`) and keep no connection.
    func stop() -> [KeepAliveClient] {
        readers.withLockedValue { readers in
            defer { readers = [:] }
            reads.stop()
            return readers.values.map(\.client)
        }
    }

    /// Waits for the reads under way (after `stop`: each ends within its connect and request
    /// timeouts, about 10 s at most), so nothing reads the stores once the node closes them.
    func drain() async { await reads.drain() }

    /// Reads each other member's checkpoint as its node serves it and keeps the cosignatures on
    /// it that verify under the federation's witness keys (its log signature checked first).
    /// Each member's read runs on its own (`MemberReads`): one that is slow or never answers (a
    /// connection it black-holes waits out the connect and request timeouts) is not read again
    /// until its read ends, and holds back neither the others' reads nor the next refresh. What
    /// is kept for a member the federation no longer lists is dropped.
    func refresh() {
        let federation = live.federation
        let listed = Set(federation.members.map(\.id))
        let dropped = readers.withLockedValue { readers in
            let gone = readers.keys.filter { !listed.contains($0) }
            defer { for id in gone { readers[id] = nil } }
            return gone.compactMap { readers[$0]?.client }
        }
        lastRead.withLockedValue { $0 = $0.filter { listed.contains($0.key) } }
        lastWitnessRead.withLockedValue { $0 = $0.filter { listed.contains($0.key) } }
        for client in dropped { Task { await client.close() } }
        reads.start(federation.members.filter { $0.id != me }) { member in await self.refresh(member, federation: federation) }
    }

    /// The reads under way, one per member at most.
    private let reads = MemberReads()

    /// One keep-alive connection per member for these reads (not the witness requests', which
    /// may be in flight at the same time): no TLS handshake every 5 s.
    private let readers = NIOLockedValueBox<[String: (address: HostPort, client: KeepAliveClient)]>([:])

    private func refresh(_ member: Federation.Member, federation: Federation) async {
        guard let address = member.apiAddress else { return }
        var client = readers.withLockedValue { $0[member.id] }.flatMap { $0.address == address && $0.client.isOpen ? $0.client : nil }
        if client == nil {
            guard !reads.stopped else { return }
            guard let made = try? await KeepAliveClient.connect(context: live.contexts.client, node: member.id, address: address,
                                                                answerLimit: WitnessCollector.answerLimit) else { return }
            let old: KeepAliveClient?? = readers.withLockedValue { readers in
                guard !reads.stopped else { return .none }
                defer { readers[member.id] = (address, made) }
                return .some(readers[member.id]?.client)
            }
            guard let old else { return await made.close() }
            if let old { await old.close() }
            client = made
        }
        guard let client else { return }
        await readCheckpoint(member, client: client, federation: federation)
        // Then what the member's witness cosigned, read from it (not only from each log's node);
        // last: an answer too large closes the connection, which the checkpoint's read does not
        // then share (it is made again next time).
        if member.witness != nil { await readWitness(member, client: client, federation: federation) }
    }

    /// Reads `member`'s checkpoint as its node serves it and keeps the cosignatures on it.
    private func readCheckpoint(_ member: Federation.Member, client: KeepAliveClient, federation: Federation) async {
        guard let (status, body) = try? await client.send(.GET, "/v1/logs/\(APIClient.segment(member.log))/checkpoint", timeout: .seconds(5)), status == 200 else { return }
        // The same note as last time: its cosignatures are kept already (an idle federation
        // otherwise checked every member's checkpoint and cosignatures again every 5 s).
        let text = String(decoding: body, as: UTF8.self)
        guard lastRead.withLockedValue({ $0[member.id] }) != text else { return }
        guard let note = try? SignedNote(parsing: text),
              let size = (try? Checkpoint(parsing: note.text))?.size,
              let info = try? ledger.log(named: member.log),
              // Only cosignatures of the history this node holds: the checkpoint's root must be
              // its replica's at that size (a member cannot get cosignatures of another root
              // counted, nor of a size this node cannot check).
              let held = try? ledger.root(info, size: size) else { return }
        let keys = WitnessService.trustedKeys(member, size: size, ledger: ledger, info: info)
        guard let (key, checkpoint) = Self.signedBy(note, keys) else { return }
        guard checkpoint.root == held else {
            // The member serves a checkpoint its log's key signed over another root than this
            // node's copy holds at that size: a split view, reported as evidence (once).
            reportSplitView(info: info, note: note, checkpoint: checkpoint)
            // Not checked again until the member serves another note.
            lastRead.withLockedValue { $0[member.id] = text }
            return
        }
        var keptAll = true
        // The lines are over the note served; kept with it when the copy holds another note of
        // the same tree at that size (a log may sign two: another time), so they are served
        // over the note they verify against.
        let over = Self.noteToKeep(note, key: key, copyNote: try? ledger.checkpoint(info, size: size)?.note)
        // Only sizes no older than what each witness has kept of this log: a member serving an
        // older checkpoint each time (every one of its sizes verifies against the copy) would
        // otherwise add a row per read that pruning, which drops below the newest, never meets.
        let newest = (try? store.newestCosigned(log: member.log)) ?? [:]
        // Every member's witness, the log's own node's too (served on, not counted as one of
        // the log's witnesses: a policy of every log counts it).
        for witness in federation.members where newest[witness.id].map({ checkpoint.size >= $0.size }) ?? true {
            guard let verifier = witness.witness, let (line, time) = Self.verifiedLine(note, by: verifier),
                  WitnessCollector.dateRefusal(time, signedMillis: checkpoint.timeMillis) == nil else { continue }
            do { try store.keepCosignature(log: member.log, size: checkpoint.size, witness: witness.id, line: line.line, time: time, note: over) } catch { keptAll = false }
        }
        // A note whose cosignatures could not all be written is read and checked again next time.
        if keptAll { lastRead.withLockedValue { $0[member.id] = text } }
    }

    /// The checkpoint note each member served at the last read whose cosignatures were kept.
    private let lastRead = NIOLockedValueBox<[String: String]>([:])

    /// Reads what `member`'s witness last cosigned of each log (`GET /v1/witness/cosigned`) and
    /// keeps each line that is its witness key's, verifies, and is dated within the skew, over a
    /// note the log's key signed whose root this node's copy holds at that size (kept with the
    /// line when its text is not the copy's note). A size the copy does not hold yet is read
    /// again next time; a note that fails a check is not (until the answer changes). Finding
    /// 169: a log's own node could withhold a witness's line from everyone, so that a witness
    /// restored from an older state learnt nothing of it from its peers (`WitnessRecall`) and
    /// could be led to cosign a fork; read from the witness itself, the line is known to its
    /// peers within a refresh.
    private func readWitness(_ member: Federation.Member, client: KeepAliveClient, federation: Federation) async {
        guard let verifier = member.witness,
              let (status, body) = try? await client.send(.GET, "/v1/witness/cosigned", timeout: .seconds(5)), status == 200 else { return }
        guard lastWitnessRead.withLockedValue({ $0[member.id] }) != body,
              let answer = try? JSONDecoder().decode(WitnessCosignedResponse.self, from: body) else { return }
        var keptAll = true
        // At most one note per log the federation lists.
        for text in answer.notes.prefix(federation.members.count) {
            guard let note = try? SignedNote(parsing: text), let claimed = try? Checkpoint(parsing: note.text),
                  let log = federation.members.first(where: { $0.verifier.name.utf8.elementsEqual(claimed.origin.utf8) && $0.id != member.id }),
                  let info = try? ledger.log(named: log.log) else { continue }
            guard let (line, time) = Self.verifiedLine(note, by: verifier),
                  WitnessCollector.dateRefusal(time, signedMillis: claimed.timeMillis) == nil else { continue }
            guard let held = try? ledger.root(info, size: claimed.size) else {
                // Not held here yet: read again next time.
                keptAll = false
                continue
            }
            let keys = WitnessService.trustedKeys(log, size: claimed.size, ledger: ledger, info: info)
            guard let over = Self.noteKept(note, verifiedBy: keys, copyNote: try? ledger.checkpoint(info, size: claimed.size)?.note) else { continue }
            guard over.checkpoint.root == held else {
                // A checkpoint the log's key signed over another root than the copy holds.
                reportSplitView(info: info, note: note, checkpoint: over.checkpoint)
                continue
            }
            guard ((try? store.newestCosigned(log: log.log))?[member.id]).map({ claimed.size >= $0.size }) ?? true else { continue }
            do { try store.keepCosignature(log: log.log, size: claimed.size, witness: member.id, line: line.line, time: time, note: over.note) } catch { keptAll = false }
        }
        if keptAll { lastWitnessRead.withLockedValue { $0[member.id] = body } }
    }

    /// The first of `note`'s lines under `verifier`'s key that verifies, and its time, of at most
    /// `linesTried` lines claiming that key: a line put before the real one (anyone may add
    /// lines to a note they pass on) does not hide it, and a note full of them costs at most
    /// that many checks.
    static func verifiedLine(_ note: SignedNote, by verifier: CosignatureVerifier) -> (SignedNote.Signature, UInt64)? {
        note.signatures.lazy.filter(verifier.owns).prefix(linesTried).compactMap { line in
            (try? verifier.verify(line, body: note.text)).map { (line, $0) }
        }.first
    }

    static let linesTried = 2

    /// The checkpoint `note` signs under one of `keys`, and the note to keep with lines over it:
    /// nil when it is the copy's own note at that size (`copyNote`, compared byte for byte), else
    /// its text with that key's line alone. Nil overall when no key verifies it.
    static func noteKept(_ note: SignedNote, verifiedBy keys: [NoteVerifier], copyNote: String?) -> (checkpoint: Checkpoint, note: String?)? {
        guard let (key, checkpoint) = signedBy(note, keys) else { return nil }
        return (checkpoint, noteToKeep(note, key: key, copyNote: copyNote))
    }

    /// The first of `keys` that signed `note` as a checkpoint, and the checkpoint.
    static func signedBy(_ note: SignedNote, _ keys: [NoteVerifier]) -> (key: NoteVerifier, checkpoint: Checkpoint)? {
        keys.lazy.compactMap { key in (try? key.verifyCheckpoint(note)).map { (key, $0) } }.first
    }

    /// `noteKept`'s note for `note`, signed by `key`: nil when it is the copy's own note.
    static func noteToKeep(_ note: SignedNote, key: NoteVerifier, copyNote: String?) -> String? {
        let copyText = copyNote.flatMap { try? SignedNote(parsing: $0) }?.text
        if let copyText, copyText.utf8.elementsEqual(note.text.utf8) { return nil }
        return key.originOnly(note).serialized
    }

    /// Reports `note`, signed by the log's key over another root than this node's copy holds at
    /// its size, as evidence of a split view (once).
    private func reportSplitView(info: LogInfo, note: SignedNote, checkpoint: Checkpoint) {
        let ledger = self.ledger
        splitViews.report(log: info.name, checkpointText: note.text) { try? CopyContradiction.evidence(ledger: ledger, info: info, note: note, checkpoint: checkpoint) }
    }

    /// The answer each member's witness gave at the last read whose lines were all kept.
    private let lastWitnessRead = NIOLockedValueBox<[String: Data]>([:])
}

/// Reads of the members, each on a task of its own and at most one per member at a time: a
/// member whose read is under way is skipped until it ends, and the others are started
/// meanwhile. After `stop` none starts; `drain` waits for those under way.
final class MemberReads: Sendable {
    private struct State {
        var reads: [String: Task<Void, Never>] = [:]
        var stopped = false
    }

    private let state = NIOLockedValueBox(State())

    /// Starts `read` for each of `members` whose read is not under way (none once stopped).
    func start(_ members: [Federation.Member], read: @escaping @Sendable (Federation.Member) async -> Void) {
        state.withLockedValue { state in
            guard !state.stopped else { return }
            for member in members where state.reads[member.id] == nil {
                // The read's entry is removed by the read itself, after it is added here (the
                // lock orders the two).
                state.reads[member.id] = Task {
                    await read(member)
                    self.state.withLockedValue { _ = $0.reads.removeValue(forKey: member.id) }
                }
            }
        }
    }

    /// The members whose read is under way.
    var underWay: Set<String> { state.withLockedValue { Set($0.reads.keys) } }

    var stopped: Bool { state.withLockedValue { $0.stopped } }

    func stop() { state.withLockedValue { $0.stopped = true } }

    /// Waits for every read under way.
    func drain() async {
        for read in state.withLockedValue({ Array($0.reads.values) }) { await read.value }
    }
}

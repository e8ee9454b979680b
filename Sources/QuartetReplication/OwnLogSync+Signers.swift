import QuartetLedger

// Signs that another copy signs this node's own log: a live signer seen before the node
// opens, what its witness cosigned of it, a rotation its peers' history does not hold.

extension Replicator {
    /// Before the node opens, a verified checkpoint of its own log (a baseline voter's head, a
    /// witness's `witnessed` note) dated more than `liveSignerMarginMillis` after this process started
    /// and after every checkpoint of it seen by the round all connected voters had answered in,
    /// and beyond every size that round showed: another copy of this node signs
    /// the log now (a backup restored on another host while the original runs). The node never
    /// opens this run (was: it took the tail and opened, and the two copies signed the next
    /// index each: the fork that quarantines the log everywhere). A real restore sees no such
    /// checkpoint: the log's only signer is the copy restored. One peer is enough: the note
    /// carries the log's own signature, a peer can only relay it.
    mutating func liveSigner(_ checkpoint: Checkpoint, peer: String) -> [Directive] {
        guard !ownSync.synced, let time = checkpoint.timeMillis else { return [] }
        defer { ownSync.latestSeenMillis = max(ownSync.latestSeenMillis, time) }
        guard ownSync.conflict == nil, let started = settings.startedMillis, let baseline = ownSync.baseline, checkpoint.size > baseline.size else { return [] }
        // A peer not heard by the baseline (connected since) shows what it held then: it
        // extends the baseline, it is not judged against it.
        guard baseline.voters.contains(peer) else {
            ownSync.baseline = (max(baseline.size, checkpoint.size), max(baseline.latest, time), baseline.voters.union([peer]))
            return []
        }
        guard time > max(started, baseline.latest) &+ OwnLogSync.liveSignerMarginMillis else { return [] }
        let conflict = "\(peer) shows a checkpoint of size \(checkpoint.size) of this node's own log signed at \(time) ms (1970), after this node started (\(started)): "
            + "another copy of this node is running with its log's key; stop one of them (docs/operations.md, \"Another process signs this node's log\")"
        ownSync.conflict = conflict
        return [.alert(ReplicationAlert(kind: .ownLogAhead, log: settings.ownLog, peer: peer, message: "this node's own log \(settings.ownLog) is signed by another process: \(conflict)"))]
    }

    /// The kept `witnessed` notes under keys this node had not seen, checked again if the own
    /// log's key chain has grown since they last were (a rotation stored from the tail): one
    /// that verifies now counts as seen (`noteSeen`), so the node opens only once it holds it.
    mutating func recheckWitnessed() {
        let own = settings.ownLog
        let rotations = chains[own]?.rotations.count ?? 0
        guard !ownSync.unverifiedWitnessed.isEmpty, rotations != ownSync.rotationsChecked else { return }
        ownSync.rotationsChecked = rotations
        for (peer, kept) in ownSync.unverifiedWitnessed.sorted(by: { $0.key < $1.key }) {
            guard let checkpoint = try? verified(kept.note, log: own).checkpoint else { continue }
            ownSync.unverifiedWitnessed[peer] = nil
            noteSeen(own, checkpoint)
        }
    }

    /// Holds the own log's sync (`held`: members run a newer federation file than this node;
    /// its witnesses, whose answers open the log, may include members removed since) or lets
    /// it go on, checking at once.
    public mutating func holdOwnSync(_ held: Bool) -> [Directive] {
        guard ownSync.held != held else { return [] }
        ownSync.held = held
        return held ? [] : ownSyncCheck()
    }

    /// This node's witness cosigned `note`, a checkpoint of `log` (the shell reads it from the
    /// witness state when the log's writer connects). Only a larger one replaces what is kept.
    public mutating func witnessCosigned(log: String, note: String) {
        guard let size = Self.size(ofNote: note) else { return }
        if let kept = witnessedNotes[log], let keptSize = Self.size(ofNote: kept), keptSize >= size { return }
        witnessedNotes[log] = note
    }

    static func size(ofNote note: String) -> UInt64? {
        Checkpoint(unverifiedNote: note)?.size
    }

    /// The `witnessed` messages for a peer just greeted: what this node's witness cosigned of
    /// the logs the peer writes (version 3 on).
    func witnessedFor(_ peer: String) -> [Directive] {
        guard speaksWitnessed(peer) else { return [] }
        return witnessedNotes.keys.sorted().filter { settings.writer(of: $0) == peer && settings.verifiers[$0] != nil }
            .map { .send(peer: peer, .witnessed(log: $0, note: witnessedNotes[$0]!)) }
    }

    /// A peer's witness says it cosigned `note` of `log`. Only the log's writer listens, and only
    /// before its first append: a checkpoint of its own log that verifies under its key raises
    /// the size it must hold before it opens (`seen`), even if no peer's replica holds that
    /// much — then it stays held (the entries are lost; appending would contradict a checkpoint
    /// a witness holds signed). One that does not verify is counted against the sender; one
    /// signed by a key this node has not seen (a rotation in entries it lacks) is a claim, as a
    /// head under such a key is (`OwnLogSync.claims`).
    mutating func receivedWitnessed(log: String, note: String, from peer: String) -> [Directive] {
        guard log == settings.ownLog, !ownSync.synced else { return [] }
        // Within the round's budget of signature checks, as a head is (`mayCheck`): a peer
        // replaying a log's thousands of checkpoints as `witnessed` made one check each,
        // unpenalised, on the engine's queue while the node caught its own tail up.
        if !mayCheck(note, log: log, peer: peer) { return [] }
        let checkpoint: Checkpoint
        do { checkpoint = try verified(note, log: log).checkpoint } catch {
            if let conflict = ownLogConflict(note) { return ownLogConflicts(conflict, peer: peer) }
            // A key this node has not seen: a claim, as a head under it is (OwnLogSync.claims).
            if let size = unknownKeyHead(Message.Head(log: log, note: note)) {
                // Asked for it like a claimant by head, so that giving nothing counts against it
                // (was: only recorded — a claimant never asked is never struck, so one made-up
                // key line held a restarting node's appends for as long as the peer stayed).
                // The note is kept, checked again once the chain grows (`recheckWitnessed`).
                if size > ownSync.unverifiedWitnessed[peer]?.size ?? 0 {
                    ownSync.unverifiedWitnessed[peer] = (size, note)
                    ownSync.rotationsChecked = -1
                }
                claimed(peer, log: log, size: size)
                guard quarantined[log] == nil, size > heads[log]?.size ?? 0 else { return [] }
                return request(log, from: peer)
            }
            // Signed by a key revoked below its size: proves nothing, and blames nobody (a witness
            // may have cosigned it in good faith before the revocation reached it).
            if signedPastRevocation(note, log: log, peer: peer) { return [] }
            return penalize(peer, log: log, "the checkpoint of \(log) its witness cosigned does not verify against the log's key: \(error)")
        }
        noteSeen(log, checkpoint)
        // One no larger than what is held must agree with it, as a head must.
        guard checkpoint.size > heads[log]?.size ?? 0 else { return compareWithHeld(log, note: note, checkpoint: checkpoint, from: peer) }
        return liveSigner(checkpoint, peer: peer)
    }

    /// Whether `note`, a checkpoint of this node's own log that does not verify under the key
    /// in force at its size here, is a sign that the peers hold another history: it is signed
    /// by the key this copy rotated away from, at a size beyond that rotation, and not by the key
    /// it rotated to — in the history of a peer that sends it, entry `index` is not this rotation
    /// (a copy restored or taken from the disk and then rotated offline). A sign, not a proof:
    /// checkpoints of the real history carry the old key's signature too during a rotation's
    /// overlap, and anyone may strip the new key's line; honest peers keep and send the line of
    /// the key in force only. So it counts only from as many peers as must answer before the
    /// node opens (`ownLogConflicts`). Not when the federation revoked that key at or below
    /// the size (a thief of a revoked key proves nothing). Nil: no such sign.
    func ownLogConflict(_ note: String) -> String? {
        guard let chain = chains[settings.ownLog], let parsed = try? SignedNote(parsing: note),
              let claimed = try? Checkpoint(parsing: parsed.text), claimed.origin == chain.origin else { return nil }
        for rotation in chain.rotations where rotation.index < claimed.size {
            if let revokedAfter = chain.revoked[rotation.previous], claimed.size > revokedAfter { continue }
            guard (try? NoteVerifier(name: chain.origin, publicKey: rotation.previous).verify(parsed)) != nil else { continue }
            return "a checkpoint of size \(claimed.size) that the peers hold is signed by the key this copy rotated away from at index \(rotation.index), and not by the key it rotated to: "
                + "in the history the peers hold, entry \(rotation.index) is not this rotation. This copy was written to (rotated) after it was restored or copied, and is a second history; "
                + "restore the newest copy and recover the rest from the peers (docs/operations.md)"
        }
        return nil
    }

    /// A peer showed a sign of another history of the own log (`ownLogConflict`). Before the
    /// node opens the peer is not blamed (in a real fork every honest peer sends such heads), and
    /// once as many of the log's witnesses as must answer (`ownSyncNeeded`) have, the node stays
    /// held for good, with one alert saying why. After it opened, no honest peer sends one (it
    /// sends the line of the key in force): the sender is penalised, as for any bad signature.
    mutating func ownLogConflicts(_ conflict: String, peer: String) -> [Directive] {
        guard !ownSync.synced else {
            return penalize(peer, log: settings.ownLog, "checkpoint of \(settings.ownLog) signed by the key it rotated away from, not the key in force: \(conflict)")
        }
        ownSync.conflicting[peer] = conflict
        let voters = Set(ownSync.conflicting.keys).intersection(ownSyncVoters)
        guard ownSync.conflict == nil, voters.count >= ownSyncNeeded else { return [] }
        ownSync.conflict = conflict
        return [.alert(ReplicationAlert(kind: .ownLogAhead, log: settings.ownLog, peer: peer,
                                        message: "this node's own log \(settings.ownLog) conflicts with what \(voters.sorted().joined(separator: ", ")) hold: \(conflict)"))]
    }
}

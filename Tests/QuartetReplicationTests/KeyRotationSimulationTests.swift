import QuartetCrypto
import QuartetLedger
@testable import QuartetReplication
import Testing

/// Peers follow a log's key rotations: checkpoints after a rotation entry verify by the new key
/// (signed by it alone), and a forged rotation is refused by every peer, which stores nothing of it.
@Suite struct KeyRotationSimulationTests {
    /// Appends a rotation of `id`'s log to `key` (signed by `previous`, the key in force unless
    /// forged) with a checkpoint signed by `key` alone; the node signs with `key` from then on.
    static func rotate(_ sim: inout Simulation, _ id: String, to key: Ed25519PrivateKey, previous: Ed25519PrivateKey) throws {
        var log = sim.nodes[id]!.logs[id]!
        let index = UInt64(log.entries.count)
        let rotation = try KeyRotation.make(origin: Simulation.origin + id, index: index, previous: previous, key: key)
        let entry = try Entry(log: id, index: index, timeMillis: sim.now, type: KeyRotation.entryType, classification: "public",
                              author: "sim", payload: rotation.payload, salt: [UInt8](repeating: 7, count: 32))
        log.entries.append(entry)
        log.frontier.append(entry.leafHash)
        let signer = try NoteSigner(name: Simulation.origin + id, key: key)
        let checkpoint = Checkpoint(origin: Simulation.origin + id, size: log.frontier.size, root: log.frontier.root, timeMillis: sim.now)
        let note = try signer.sign(checkpoint).serialized
        log.checkpoints[checkpoint.size] = note
        sim.nodes[id]!.logs[id] = log
        sim.nodes[id]!.signer = signer
        sim.run(id, sim.nodes[id]!.replicator.committed(Batch(log: id, from: index, note: note, entries: [WireEntry(entry)]), checkpoint: checkpoint))
    }

    /// Three nodes; `a` appends 10 with key `k0` (the simulation's), then rotates.
    static func federation() throws -> (Simulation, Ed25519PrivateKey) {
        var sim = try Simulation(ids: ["a", "b", "c"], seed: 5)
        let k0 = try Ed25519PrivateKey()
        // The simulation pins each node's signer; give `a` a key the test holds.
        var verifiers = sim.nodes.mapValues(\.signer.verifier)
        verifiers["a"] = NoteVerifier(name: Simulation.origin + "a", publicKey: k0.publicKey)
        for id in ["a", "b", "c"] {
            var settings = sim.nodes[id]!.replicator.settings
            settings.verifiers = verifiers
            sim.nodes[id]!.replicator = Replicator(settings: settings, heads: [:], seed: 5)
        }
        sim.nodes["a"]!.signer = try NoteSigner(name: Simulation.origin + "a", key: k0)
        sim.connectAll()
        try sim.append("a", count: 10)
        sim.runUntil(200)
        #expect(sim.sizes("a") == [10, 10, 10])
        return (sim, k0)
    }

    @Test func peersFollowARotationAndVerifyLaterCheckpointsByTheNewKey() throws {
        var (sim, k0) = try Self.federation()
        let k1 = try Ed25519PrivateKey(), k2 = try Ed25519PrivateKey()
        try Self.rotate(&sim, "a", to: k1, previous: k0)
        try sim.append("a", count: 5)
        try Self.rotate(&sim, "a", to: k2, previous: k1)
        try sim.append("a", count: 3)
        // A node that was away catches up across both rotations from its peers.
        sim.disconnect("a", "c")
        sim.disconnect("b", "c")
        try sim.append("a", count: 2)
        sim.runUntil(600)
        sim.connectAll()
        sim.runUntil(2_000)
        #expect(sim.sizes("a") == [22, 22, 22])
        #expect(Set(sim.roots().values.map { $0["a"] }).count == 1)
        for id in ["b", "c"] {
            #expect(sim.nodes[id]!.replicator.chains["a"]!.current == k2.publicKey, "\(id)")
            #expect(!sim.nodes[id]!.alerts.contains { $0.kind == .rejected }, "\(id): \(sim.nodes[id]!.alerts.map(\.message))")
        }
    }

    /// A writer forks across its rotation: one history rotates at 10 (later checkpoints signed
    /// by the new key alone), the other goes on under the old key. Neither side can build
    /// evidence both verify, but neither blames the honest peer showing the other history: a
    /// copy that holds the rotation sees a checkpoint beyond it by the key rotated away from,
    /// and a copy without it gets entries under a key its history does not lead to; both say
    /// `rotation-fork`.
    @Test func aForkAcrossARotationIsSaidAndBlamesNoPeer() throws {
        var (sim, k0) = try Self.federation()
        let k1 = try Ed25519PrivateKey()
        try Self.rotate(&sim, "a", to: k1, previous: k0)
        try sim.append("a", count: 2)
        sim.runUntil(sim.now + 200)
        #expect(sim.nodes["b"]!.replicator.chains["a"]!.current == k1.publicKey)
        // The other history: 13 entries with no rotation at 10, signed by k0 alone.
        var other = MerkleFrontier()
        for i in 0..<13 { other.append(Hash.leaf([UInt8(i), 9])) }
        let oldSigner = try NoteSigner(name: Simulation.origin + "a", key: k0)
        let forked = try oldSigner.sign(Checkpoint(origin: Simulation.origin + "a", size: 13, root: other.root, timeMillis: sim.now)).serialized
        // b compares it with its stored tree (the shell's part, as the engine does it): not of
        // b's history, so a second one beyond the rotation, said and not blamed on c.
        func atB(_ note: String, from peer: String) throws -> [Directive] {
            let asked = sim.nodes["b"]!.replicator.received(.heads([Message.Head(log: "a", note: note)]), from: peer)
            guard case .checkFork(let shownBy, let log, _, let checkpoint, let rotation)? = asked.first(where: { if case .checkFork = $0 { return true }; return false }) else {
                Issue.record("no comparison with the stored tree asked for: \(asked)")
                return asked
            }
            let held = sim.nodes["b"]!.logs["a"]!
            let ours = Merkle.root(ofLeaves: Array(held.leaves[0..<Int(checkpoint.size)]))
            return sim.nodes["b"]!.replicator.checkedFork(log, size: checkpoint.size, rotation: rotation, matchesStored: ours == checkpoint.root, shownBy: shownBy)
        }
        let fork = try atB(forked, from: "c")
        #expect(fork.contains { if case .alert(let a) = $0 { return a.kind == .rotationFork && a.peer == "c" }; return false }, "\(fork)")
        #expect(!fork.contains { if case .alert(let a) = $0 { return a.kind == .rejected }; return false }, "\(fork)")
        // b's own history signed by the old key alone (what anyone can make of a note the
        // writer signed with both keys during the overlap, by removing the new key's line):
        // no fork, and the peer showing it is blamed.
        let own = sim.nodes["b"]!.logs["a"]!
        let stripped = try oldSigner.sign(Checkpoint(origin: Simulation.origin + "a", size: 12, root: Merkle.root(ofLeaves: Array(own.leaves[0..<12])), timeMillis: sim.now)).serialized
        let strippedAnswer = try atB(stripped, from: "c")
        #expect(strippedAnswer.contains { if case .alert(let a) = $0 { return a.kind == .rejected && a.peer == "c" }; return false }, "\(strippedAnswer)")
        #expect(!strippedAnswer.contains { if case .alert(let a) = $0 { return a.kind == .rotationFork }; return false }, "\(strippedAnswer)")
        // The same note with a junk signature line added is the same note: not compared again.
        let junkCheckpoint = try Checkpoint(parsing: try SignedNote(parsing: stripped).text)
        let junk = try NoteSigner(name: Simulation.origin + "a", key: try Ed25519PrivateKey()).sign(junkCheckpoint).serialized
        let junkLine = try #require(junk.split(separator: "\n").last { $0.hasPrefix("\u{2014} ") })
        let padded = stripped + junkLine + "\n"
        let again = sim.nodes["b"]!.replicator.received(.heads([Message.Head(log: "a", note: padded)]), from: "c")
        #expect(!again.contains { if case .checkFork = $0 { return true }; return false }, "\(again)")
        // A copy holding the old history to 12 (no rotation) gets entries 12… of the rotated one.
        let newSigner = try NoteSigner(name: Simulation.origin + "a", key: k1)
        let held = sim.nodes["a"]!.logs["a"]!
        let rotatedNote = try newSigner.sign(Checkpoint(origin: Simulation.origin + "a", size: UInt64(held.entries.count), root: held.frontier.root, timeMillis: sim.now)).serialized
        let settings = sim.nodes["c"]!.replicator.settings
        var twelve = MerkleFrontier()
        for i in 0..<12 { twelve.append(Hash.leaf([UInt8(i), 9])) }
        let oldHead = Checkpoint(origin: Simulation.origin + "a", size: 12, root: twelve.root, timeMillis: sim.now)
        var copy = Replicator(settings: settings, heads: ["a": LogHead(checkpoint: oldHead, note: try oldSigner.sign(oldHead).serialized)], seed: 9)
        _ = copy.connected("b")
        _ = copy.received(.hello(version: ProtocolLimits.version, node: "b", federation: "sim"), from: "b")
        #expect(held.entries.count == 13)
        let tail = Batch(log: "a", from: 12, note: rotatedNote, entries: held.entries.suffix(from: 12).map(WireEntry.init))
        let atCopy = copy.received(.entries(tail), from: "b")
        #expect(atCopy.contains { if case .alert(let a) = $0 { return a.kind == .rotationFork && a.peer == "b" }; return false }, "\(atCopy)")
        #expect(!atCopy.contains { if case .alert(let a) = $0 { return a.kind == .rejected }; return false }, "\(atCopy)")
    }

    /// A note beyond the rotations is checked against the keys rotated away from only where it
    /// has their lines, each key once, each check spending the peer's budget for the log this
    /// round (finding 180: a note padded with a line of every old key cost a signature check per
    /// rotation): junk lines in front of a real one cost their sender's budget, and once it is
    /// spent the note is put off (not held against the peer), never wrongly judged.
    @Test func aNotePaddedWithOldKeysLinesCostsItsSenderTheRoundsChecks() throws {
        var (sim, k0) = try Self.federation()
        var keys = [k0]
        for _ in 0..<10 {
            let next = try Ed25519PrivateKey()
            try Self.rotate(&sim, "a", to: next, previous: keys.last!)
            keys.append(next)
        }
        sim.runUntil(sim.now + 200)
        var b = sim.nodes["b"]!.replicator
        #expect(b.chains["a"]!.keys.count == 11)
        let origin = Simulation.origin + "a"
        let checkpoint = Checkpoint(origin: origin, size: 60, root: Hash.leaf([1]), timeMillis: sim.now)
        func line(_ key: Ed25519PrivateKey, valid: Bool) throws -> String {
            var note = try NoteSigner(name: origin, key: key).sign(checkpoint)
            if !valid { note.signatures[0].signature[0] ^= 1 }
            return note.signatures[0].line
        }
        let body = try NoteSigner(name: origin, key: k0).sign(checkpoint).serialized.split(separator: "\n", omittingEmptySubsequences: false)
        func note(_ lines: [String]) -> String { body.prefix(while: { !$0.isEmpty }).joined(separator: "\n") + "\n\n" + lines.joined(separator: "\n") + "\n" }
        // The old key's line behind bad lines of three other old keys: found (four checks).
        let real = try line(keys[5], valid: true)
        let padded = note(try [keys[0], keys[1], keys[2]].map { try line($0, valid: false) } + [real])
        guard case .fork(let rotation, _, let found) = b.signedPastRotation(padded, log: "a", peer: "c") else {
            Issue.record("the fork behind three junk lines was not found"); return
        }
        #expect(found.contains(real) && rotation == b.chains["a"]!.rotations[5].index)
        // Lines of keys the chain does not hold cost nothing.
        let strangers = try (0..<20).map { _ in try line(try Ed25519PrivateKey(), valid: true) }
        #expect(b.signedPastRotation(note(strangers + [real]), log: "a", peer: "c").fork != nil)
        // Eight checks a round per peer and log: a note with bad lines of nine old keys is put
        // off, not judged (and not held against c); another peer's budget is its own.
        let junk = note(try keys.prefix(9).map { try line($0, valid: false) } + [real])
        guard case .putOff = b.signedPastRotation(junk, log: "a", peer: "c") else { Issue.record("the budget was not kept"); return }
        #expect(b.signedPastRotation(padded, log: "a", peer: "c").fork == nil, "c's budget is spent this round")
        #expect(b.signedPastRotation(padded, log: "a", peer: "d").fork != nil)
        // A new round, a new budget.
        _ = b.tick()
        #expect(b.signedPastRotation(padded, log: "a", peer: "c").fork != nil)
        // A note with no old key's line: nothing to tell.
        guard case .none = b.signedPastRotation(note([try line(try Ed25519PrivateKey(), valid: true)]), log: "a", peer: "c") else {
            Issue.record("a note of no old key was told a fork"); return
        }
    }

    /// `a`'s log with a rotation to `k1` in its tail, replicated at b and c (41 entries, each
    /// batch stored apart so each has its checkpoint to serve from), `a` then cut off from them,
    /// and a copy of `a` from before any of it, to restore: the simulation, the copy, the key
    /// rotated to, and the simulated time reached.
    static func rotatedTail() throws -> (sim: Simulation, copy: SimNode, k1: Ed25519PrivateKey, at: UInt64) {
        var (sim, k0) = try Self.federation()
        let copy = sim.nodes["a"]!
        var at: UInt64 = 200
        func settle() { at += 50; sim.runUntil(at) }
        for _ in 0..<4 { try sim.append("a", count: 5); settle() }
        let k1 = try Ed25519PrivateKey()
        try Self.rotate(&sim, "a", to: k1, previous: k0)
        settle()
        for _ in 0..<2 { try sim.append("a", count: 5); settle() }
        #expect(sim.sizes("a") == [41, 41, 41])
        for peer in ["b", "c"] { sim.disconnect("a", peer) }
        return (sim, copy, k1, at)
    }

    /// Puts `copy` back as `a`, syncing its own log before it appends.
    static func restore(_ copy: SimNode, in sim: inout Simulation) {
        var settings = copy.replicator.settings
        settings.syncOwnLog = true
        var node = copy
        node.replicator = Replicator(settings: settings, heads: copy.replicator.heads, seed: 5)
        node.synced = nil
        sim.nodes["a"] = node
    }

    /// A copy restored from before a rotation, whose witness (b) cosigned a checkpoint beyond
    /// what any replica holds, signed by the key the copy has not seen yet: once the tail brings
    /// the rotation the witness's note verifies, and the node stays held below it — even though
    /// b, asked each round, gives nothing and its claim is dropped (appending where the replicas
    /// end would sign a second history over the checkpoint b holds cosigned ten entries on).
    @Test func aWitnessedCheckpointBeyondTheReplicasHoldsARestoredCopyOnceItsKeyIsKnown() throws {
        var (sim, copy, k1, at) = try Self.rotatedTail()
        let replicated: UInt64 = 41
        // Ten more the peers never get; b's witness cosigned their checkpoint.
        try sim.append("a", count: 10)
        let beyond = try #require(sim.nodes["a"]!.logs["a"]!.checkpoints[replicated + 10])
        sim.nodes["b"]!.replicator.witnessCosigned(log: "a", note: beyond)
        Self.restore(copy, in: &sim)
        sim.connectAll()
        sim.runUntil(at + 6_000)
        let a = sim.nodes["a"]!
        #expect(a.synced == nil, "opened at \(a.synced.map(String.init) ?? "-") below the checkpoint its witness cosigned")
        #expect(a.replicator.chains["a"]!.current == k1.publicKey)
        #expect(a.replicator.ownLogStatus.seen == replicated + 10, "\(a.replicator.ownLogStatus)")
    }

    /// A copy of `a` restored from before a rotation, whose peers hold the tail in several served
    /// batches: their heads are signed by a key the copy has not seen, so only their claims say
    /// how far the log goes. The copy opens only once it holds all of it (not after the first
    /// batch, where what it holds equals the largest checkpoint it could verify), and no peer
    /// is blamed for sending the rest.
    @Test(arguments: [(false, UInt64(5)), (true, 5), (false, 80)])
    func aCopyRestoredFromBeforeARotationOpensOnlyAtTheEndOfTheTail(bGivesNothing: Bool, maxDelay: UInt64) throws {
        var (sim, copy, k1, at) = try Self.rotatedTail()
        Self.restore(copy, in: &sim)
        sim.maxServe = 5
        // With `bGivesNothing`, b claims the tail (its heads are signed by the key the copy has
        // not seen) but answers no request: a request it swallows is asked of c at the next
        // round at the latest, and after a few rounds of nothing b is not asked again.
        if bGivesNothing { sim.swallowsRequests = ["b"] }
        // With `maxDelay` 80 (rounds every 50), a request is out at nearly every round's end
        // while the tail comes: an honest catch-up, not a peer giving nothing.
        sim.maxDelay = maxDelay
        sim.connectAll()
        sim.runUntil(at + 6_000)
        #expect(sim.nodes["a"]!.synced == 41)
        #expect(sim.nodes["a"]!.replicator.chains["a"]!.current == k1.publicKey)
        for id in ["a", "b", "c"] {
            #expect(!sim.nodes[id]!.alerts.contains { $0.kind == .rejected }, "\(id): \(sim.nodes[id]!.alerts.map(\.message))")
        }
    }

    /// The same over slow links: every answer arrives many rounds after it was asked for, so
    /// each claimant is struck for giving nothing and dropped. A claim dropped for slowness is
    /// no evidence the tail does not exist: while most voters heard claim more than the copy
    /// holds, it does not open (it opened at its restored size, and its next append was the
    /// second history the sync exists to prevent), and it goes on asking them.
    /// With `bGivesNothing`, b claims the tail and swallows every request: re-asked, the
    /// dropped claimants take turns (fewest strikes first), so b cannot keep the one request
    /// for the log from c, whose answers are only slow.
    @Test(arguments: [false, true])
    func aCopyRestoredFromBeforeARotationWaitsOutSlowLinksForItsTail(bGivesNothing: Bool) throws {
        var (sim, copy, k1, at) = try Self.rotatedTail()
        Self.restore(copy, in: &sim)
        sim.maxServe = 5
        sim.minDelay = 400
        if bGivesNothing { sim.swallowsRequests = ["b"] }
        sim.connectAll()
        sim.runUntil(at + 60_000)
        let a = sim.nodes["a"]!
        #expect(a.synced == 41, "opened at \(a.synced.map(String.init) ?? "-"), not at the end of the tail (41)")
        #expect(a.replicator.chains["a"]!.current == k1.publicKey)
        for id in ["a", "b", "c"] {
            #expect(!sim.nodes[id]!.alerts.contains { $0.kind == .rejected }, "\(id): \(sim.nodes[id]!.alerts.map(\.message))")
        }
    }

    @Test func aRotationInABatchThatIsNeverStoredChangesNoKey() throws {
        var (sim, k0) = try Self.federation()
        // `a`'s writer (holding k0) shows `b` a rotation that is in no log: an "old news" batch
        // of one made-up rotation entry with the real checkpoint of size 1. Nothing of it is
        // stored, so nothing of it may change the key `b` checks `a`'s checkpoints by.
        try sim.append("a", count: 1)
        sim.runUntil(400)
        let ghost = try Ed25519PrivateKey()
        // The rotation claims index 20, beyond the batch [10, 11) it rides in.
        let rotation = try KeyRotation.make(origin: Simulation.origin + "a", index: 20, previous: k0, key: ghost)
        let entry = try Entry(log: "a", index: 20, timeMillis: sim.now, type: KeyRotation.entryType, classification: "public",
                              author: "sim", payload: rotation.payload, salt: [UInt8](repeating: 7, count: 32))
        let note = try #require(sim.nodes["a"]!.logs["a"]!.checkpoints[11])
        let directives = sim.nodes["b"]!.replicator.received(.entries(Batch(log: "a", from: 10, note: note, entries: [WireEntry(entry)])), from: "a")
        sim.run("b", directives)
        #expect(sim.nodes["b"]!.replicator.chains["a"]!.rotations.isEmpty, "a rotation never stored is not in force")
        // The log goes on under k0 past index 20, and `b` follows it, blaming no honest peer.
        try sim.append("a", count: 15)
        sim.runUntil(1_500)
        #expect(sim.sizes("a") == [26, 26, 26])
        #expect(!sim.nodes["b"]!.alerts.contains { $0.kind == .rejected && $0.peer == "c" }, "\(sim.nodes["b"]!.alerts.map(\.message))")
    }

    @Test func aForgedRotationIsRefusedByEveryPeer() throws {
        var (sim, _) = try Self.federation()
        // Someone without k0 (a thief of the node's host, say) rotates to a key of their own.
        let thief = try Ed25519PrivateKey(), theirs = try Ed25519PrivateKey()
        try Self.rotate(&sim, "a", to: theirs, previous: thief)
        try sim.append("a", count: 3)
        sim.runUntil(1_000)
        #expect(sim.sizes("a") == [14, 10, 10])
        for id in ["b", "c"] {
            #expect(sim.nodes[id]!.alerts.contains { $0.kind == .rejected && $0.message.contains("key") }, "\(id): \(sim.nodes[id]!.alerts)")
            #expect(sim.nodes[id]!.replicator.chains["a"]!.rotations.isEmpty)
        }
    }

    /// `count` rotations of `a` chained from `first` (key in force `previous`), at indices from
    /// `index`, as entries; and the keys rotated to.
    static func rotations(_ count: Int, from previous: Ed25519PrivateKey, at index: UInt64, now: UInt64) throws -> ([WireEntry], [Ed25519PrivateKey]) {
        var entries: [WireEntry] = [], keys: [Ed25519PrivateKey] = [], inForce = previous
        for i in 0..<count {
            let next = try Ed25519PrivateKey()
            let rotation = try KeyRotation.make(origin: Simulation.origin + "a", index: index + UInt64(i), previous: inForce, key: next)
            entries.append(WireEntry(try Entry(log: "a", index: index + UInt64(i), timeMillis: now, type: KeyRotation.entryType, classification: "public",
                                               author: "sim", payload: rotation.payload, salt: [UInt8](repeating: 7, count: 32))))
            keys.append(next)
            inForce = next
        }
        return (entries, keys)
    }

    /// The writer (it holds the key, so every rotation it makes is valid) replays a frame of
    /// many rotations past a gap: the receiver only asks for what precedes it and checks none
    /// of them, however often it comes (each was two signature checks on the engine's queue).
    /// A batch it could store with more than `maxNewRotationsPerBatch` new rotations is
    /// refused before any is checked, and a rotation not signed by the key in force is refused
    /// by the cheap checks, before its signatures.
    @Test func rotationsAreCheckedOnlyWhereTheyCouldBeStoredAndCheapestFirst() throws {
        var (sim, k0) = try Self.federation()
        let (entries, keys) = try Self.rotations(Replicator.maxNewRotationsPerBatch, from: k0, at: 20, now: sim.now)
        let signer = try NoteSigner(name: Simulation.origin + "a", key: try #require(keys.last))
        // (Its root is not checked: nothing past a gap is stored.)
        let note = try signer.sign(Checkpoint(origin: Simulation.origin + "a", size: 28, root: try Hash([UInt8](repeating: 1, count: 32)), timeMillis: sim.now)).serialized
        for _ in 0..<50 {
            let directives = sim.nodes["b"]!.replicator.received(.entries(Batch(log: "a", from: 20, note: note, entries: entries)), from: "a")
            for directive in directives {
                guard case .send(_, .request(let log, let from)) = directive else { Issue.record("\(directive)"); continue }
                #expect(log == "a" && from == 10)
            }
        }
        #expect(sim.nodes["b"]!.replicator.rotationsVerified == 0)
        #expect(!sim.nodes["b"]!.alerts.contains { $0.kind == .rejected }, "\(sim.nodes["b"]!.alerts.map(\.message))")

        // Continuing `b`'s copy at 10: nine new rotations are refused unchecked, not held against
        // the sender (a node before the limit cuts its batches without it); the log is asked of
        // another peer this round.
        let (nine, nineKeys) = try Self.rotations(9, from: k0, at: 10, now: sim.now)
        let ninth = try NoteSigner(name: Simulation.origin + "a", key: try #require(nineKeys.last))
        let tooMany = try ninth.sign(Checkpoint(origin: Simulation.origin + "a", size: 19, root: try Hash([UInt8](repeating: 1, count: 32)), timeMillis: sim.now)).serialized
        sim.run("b", sim.nodes["b"]!.replicator.received(.entries(Batch(log: "a", from: 10, note: tooMany, entries: nine)), from: "a"))
        #expect(sim.nodes["b"]!.replicator.rotationsVerified == 0)
        #expect(!sim.nodes["b"]!.alerts.contains { $0.kind == .rejected }, "\(sim.nodes["b"]!.alerts.map(\.message))")
        // One whose signer is not the key in force at 10: refused by the order and key checks.
        let stranger = try Ed25519PrivateKey()
        let (forged, _) = try Self.rotations(1, from: stranger, at: 10, now: sim.now)
        sim.run("b", sim.nodes["b"]!.replicator.received(.entries(Batch(log: "a", from: 10, note: tooMany, entries: forged)), from: "a"))
        #expect(sim.nodes["b"]!.replicator.rotationsVerified == 0)
        #expect(sim.nodes["b"]!.alerts.contains { $0.kind == .rejected && $0.message.contains("not signed by the key in force") })
        #expect(sim.nodes["b"]!.replicator.chains["a"]!.rotations.isEmpty)
    }

    /// A relay asked for a log answers with a batch this node may not take from it (here more
    /// new rotations than a batch may carry: not held against it): the request to it ends and
    /// the log is asked of the writer at once, not when the round ends.
    @Test func aPeerWithheldForItsAnswerNoLongerHoldsTheRequest() throws {
        let k0 = try Ed25519PrivateKey()
        let sim = try Simulation(ids: ["a", "b", "c"], seed: 5)
        var verifiers = sim.nodes.mapValues(\.signer.verifier)
        verifiers["a"] = NoteVerifier(name: Simulation.origin + "a", publicKey: k0.publicKey)
        var settings = ReplicationSettings(node: "b", federation: "sim", ownLog: "b", verifiers: verifiers, peers: ["a", "c"])
        settings.writers = ["a": "a", "b": "b", "c": "c"]
        var b = Replicator(settings: settings, heads: [:], seed: 1)
        // A head of `a` at 20 (its root is not compared: nothing past what is held is).
        let head = try NoteSigner(name: Simulation.origin + "a", key: k0).sign(
            Checkpoint(origin: Simulation.origin + "a", size: 20, root: try Hash([UInt8](repeating: 2, count: 32)), timeMillis: sim.now)).serialized
        func greet(_ peer: String) -> [Directive] {
            _ = b.connected(peer)
            _ = b.received(.hello(version: ProtocolLimits.version, node: peer, federation: "sim"), from: peer)
            return b.received(.heads([.init(log: "a", note: head)]), from: peer)
        }
        func requests(_ directives: [Directive]) -> [String] {
            directives.compactMap { if case .send(let peer, .request("a", let from)) = $0 { return "\(peer)@\(from)" }; return nil }
        }
        // The writer is away: the relay is asked; then the writer comes (the request stays out).
        #expect(requests(greet("c")) == ["c@0"])
        #expect(requests(greet("a")).isEmpty)
        let (nine, keys) = try Self.rotations(9, from: k0, at: 0, now: sim.now)
        let note = try NoteSigner(name: Simulation.origin + "a", key: try #require(keys.last)).sign(
            Checkpoint(origin: Simulation.origin + "a", size: 9, root: try Hash([UInt8](repeating: 1, count: 32)), timeMillis: sim.now)).serialized
        #expect(requests(b.received(.entries(Batch(log: "a", from: 0, note: note, entries: nine)), from: "c")) == ["a@0"])
        #expect(b.rotationsVerified == 0)
    }
}

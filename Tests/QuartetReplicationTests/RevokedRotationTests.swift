import QuartetCrypto
import QuartetLedger
@testable import QuartetReplication
import Testing

/// A thief holding a log key the federation revoked forks the log below the writer's own
/// rotation, rotating to a key of its own (finding 115). Replication follows a rotation signed
/// by a revoked key only to a key the federation names for the log, at any index: a copy below
/// the fork point refuses the thief's batch and takes the writer's; a thief rotation stored
/// before the revocation stops the chain and is said, and a later file that admits it brings
/// it back.
@Suite struct RevokedRotationTests {
    static let origin = "quartet.test/a"

    struct Keys {
        let old: Ed25519PrivateKey, successor: Ed25519PrivateKey, thief: Ed25519PrivateKey
        init() throws {
            (old, successor, thief) = (try Ed25519PrivateKey(), try Ed25519PrivateKey(), try Ed25519PrivateKey())
        }
    }

    /// Node `c`, holding 10 entries of `a`'s log (signed by `old`), connected to `b`; the file
    /// revokes `old` after 11 and names `successor` when `revoked`.
    static func node(_ keys: Keys, revoked: Bool, rotations: [KeyRotation] = [], headSize: UInt64 = 10, headKey: Ed25519PrivateKey? = nil) throws -> (Replicator, [Directive]) {
        let verifiers = ["a": NoteVerifier(name: origin, publicKey: keys.old.publicKey),
                         "b": try NoteSigner(name: "quartet.test/b", key: try Ed25519PrivateKey()).verifier,
                         "c": try NoteSigner(name: "quartet.test/c", key: try Ed25519PrivateKey()).verifier]
        var settings = ReplicationSettings(node: "c", federation: "sim", ownLog: "c", verifiers: verifiers, peers: ["a", "b"])
        if revoked {
            settings.revoked = ["a": [keys.old.publicKey: 11]]
            settings.named = ["a": [keys.successor.publicKey]]
        }
        let head = Checkpoint(origin: origin, size: headSize, root: Hash.leaf([UInt8(truncatingIfNeeded: headSize)]), timeMillis: 1)
        var replicator = Replicator(settings: settings, heads: ["a": LogHead(checkpoint: head, note: try NoteSigner(name: origin, key: headKey ?? keys.old).sign(head).serialized)],
                                    rotations: ["a": rotations], seed: 7)
        let started = replicator.start()
        _ = replicator.connected("b")
        _ = replicator.received(.hello(version: ProtocolLimits.version, node: "b", federation: "sim"), from: "b")
        return (replicator, started)
    }

    /// A batch of `a` from 10: a rotation at 10 from `old` to `key`, under a checkpoint of 11
    /// signed by `key`.
    static func batch(rotatingTo key: Ed25519PrivateKey, _ keys: Keys) throws -> (Batch, KeyRotation) {
        let rotation = try KeyRotation.make(origin: origin, index: 10, previous: keys.old, key: key)
        let entry = try Entry(log: "a", index: 10, timeMillis: 2, type: KeyRotation.entryType, classification: "public",
                              author: "x", payload: rotation.payload, salt: [UInt8](repeating: 3, count: 32))
        let checkpoint = Checkpoint(origin: origin, size: 11, root: Hash.leaf([11]), timeMillis: 2)
        return (Batch(log: "a", from: 10, note: try NoteSigner(name: origin, key: key).sign(checkpoint).serialized, entries: [WireEntry(entry)]), rotation)
    }

    static func stores(_ out: [Directive]) -> Bool { out.contains { if case .store = $0 { return true }; return false } }

    @Test func aCopyBelowTheForkRefusesTheThiefsRotationAndTakesTheWriters() throws {
        let keys = try Keys()
        let (thiefs, _) = try Self.batch(rotatingTo: keys.thief, keys)
        // Without the revocation nothing tells the thief's rotation from the writer's.
        var unrevoked = try Self.node(keys, revoked: false).0
        #expect(Self.stores(unrevoked.received(.entries(thiefs), from: "b")))
        // With it: refused (index 10, below the revocation's limit of 11), and the relay told.
        var revoked = try Self.node(keys, revoked: true).0
        let refused = revoked.received(.entries(thiefs), from: "b")
        #expect(!Self.stores(refused), "\(refused)")
        #expect(refused.contains { if case .alert(let alert) = $0 { return alert.kind == .rejected && alert.message.contains("names nowhere") }; return false }, "\(refused)")
        // The writer's rotation to the key the file names is taken.
        var honest = try Self.node(keys, revoked: true).0
        #expect(Self.stores(honest.received(.entries(try Self.batch(rotatingTo: keys.successor, keys).0), from: "b")))
    }

    @Test func aThiefRotationStoredBeforeTheRevocationStopsTheChainAndIsSaid() throws {
        let keys = try Keys()
        let (_, rotation) = try Self.batch(rotatingTo: keys.thief, keys)
        // Stored while the file did not revoke the key: followed.
        var (replicator, started) = try Self.node(keys, revoked: false, rotations: [rotation])
        #expect(replicator.chains["a"]?.current == keys.thief.publicKey && replicator.stopped.isEmpty)
        #expect(!started.contains { if case .alert = $0 { return true }; return false })
        // A reload revokes the key: the chain stops before the rotation, and that is said.
        let verifiers = replicator.settings.verifiers
        var out = replicator.members(peers: ["a", "b"], verifiers: verifiers, writers: [:], revoked: ["a": [keys.old.publicKey: 11]],
                                     named: ["a": [keys.successor.publicKey]])
        #expect(replicator.chains["a"]?.rotations.isEmpty == true && replicator.chains["a"]?.current == keys.old.publicKey)
        #expect(replicator.stopped["a"]?.rotation == rotation)
        #expect(out.contains { if case .alert(let alert) = $0 { return alert.kind == .rotationFork && alert.log == "a" && alert.peer == nil }; return false }, "\(out)")
        // At the next start too.
        (replicator, started) = try Self.node(keys, revoked: true, rotations: [rotation])
        #expect(replicator.chains["a"]?.rotations.isEmpty == true)
        #expect(started.contains { if case .alert(let alert) = $0 { return alert.kind == .rotationFork && alert.log == "a" }; return false }, "\(started)")
        // The thief's checkpoints beyond its rotation verify under nothing here.
        let thiefHead = Checkpoint(origin: Self.origin, size: 11, root: Hash.leaf([11]), timeMillis: 2)
        let thiefNote = try NoteSigner(name: Self.origin, key: keys.thief).sign(thiefHead).serialized
        #expect(throws: (any Error).self) { try replicator.verified(thiefNote, log: "a") }
        // A file that no longer revokes the key brings the rotation back (nothing was dropped).
        out = replicator.members(peers: ["a", "b"], verifiers: verifiers, writers: [:])
        #expect(replicator.chains["a"]?.current == keys.thief.publicKey && replicator.stopped.isEmpty)
        // And the same checkpoint verifies then: it was the revocation that refused it.
        #expect(throws: Never.self) { try replicator.verified(thiefNote, log: "a") }
        #expect(!out.contains { if case .alert = $0 { return true }; return false })
    }

    /// The revocation comes while the thief's batch, checked before it, is being stored: the
    /// chain the batch extends is followed again with the file's word when it is stored.
    @Test func aReloadWhileTheThiefsBatchIsStoredStillStopsTheChain() throws {
        let keys = try Keys()
        let (thiefs, rotation) = try Self.batch(rotatingTo: keys.thief, keys)
        var replicator = try Self.node(keys, revoked: false).0
        let out = replicator.received(.entries(thiefs), from: "b")
        let checkpoint = try #require(out.lazy.compactMap { directive -> Checkpoint? in
            if case .store(_, _, let checkpoint) = directive { return checkpoint }
            return nil
        }.first)
        _ = replicator.members(peers: ["a", "b"], verifiers: replicator.settings.verifiers, writers: [:], revoked: ["a": [keys.old.publicKey: 11]],
                               named: ["a": [keys.successor.publicKey]])
        let stored = replicator.stored(thiefs, checkpoint: checkpoint, from: "b")
        #expect(replicator.chains["a"]?.current == keys.old.publicKey && replicator.stopped["a"]?.rotation == rotation)
        #expect(stored.contains { if case .alert(let alert) = $0 { return alert.kind == .rotationFork && alert.log == "a" }; return false }, "\(stored)")
        // Its checkpoint, signed by the thief's key past the stop, is not followed: the log is
        // disowned (said), not announced, nothing passed on (was: taken as the head and
        // announced until the next start, every peer holding the real history refusing it).
        #expect(replicator.disownedLogs.contains("a"), "\(stored)")
        #expect(stored.contains { if case .alert(let alert) = $0 { return alert.kind == .rejected && alert.log == "a" && alert.message.contains("entry 10") }; return false }, "\(stored)")
        #expect(!stored.contains { if case .send(_, .entries) = $0 { return true }; return false }, "passed on: \(stored)")
        #expect(!Self.announces(replicator.tick(), "a"))
        // At the next start the same: the stored head is past the stop.
        var (restarted, started) = try Self.node(keys, revoked: true, rotations: [rotation], headSize: 11, headKey: keys.thief)
        #expect(restarted.disownedLogs.contains("a"), "\(started)")
        #expect(!Self.announces(restarted.tick(), "a"))
        // A copy whose head is below the stop (signed by the key the chain follows) is not.
        var below = try Self.node(keys, revoked: true, rotations: [rotation]).0
        #expect(below.disownedLogs.isEmpty)
        #expect(Self.announces(below.tick(), "a"))
    }

    /// A batch the thief signed with `old` past 11, checked before the reload that revokes
    /// `old` after 11 and stored after it: the log is disowned (as a reload disowns a head), the
    /// batch is not passed on nor announced, and the batch that waited behind it is not stored.
    @Test func aBatchCheckedBeforeARevocationAndStoredAfterItIsNotFollowed() throws {
        let keys = try Keys()
        var replicator = try Self.node(keys, revoked: false).0
        func batch(from: UInt64, to: UInt64) throws -> Batch {
            let entries = try (from..<to).map { index in
                try Entry(log: "a", index: index, timeMillis: 2, type: "t", classification: "public", author: "x", payload: Array("{}".utf8),
                          salt: [UInt8](repeating: UInt8(index), count: 32))
            }
            let checkpoint = Checkpoint(origin: Self.origin, size: to, root: Hash.leaf([UInt8(to)]), timeMillis: 2)
            return Batch(log: "a", from: from, note: try NoteSigner(name: Self.origin, key: keys.old).sign(checkpoint).serialized, entries: entries.map(WireEntry.init))
        }
        let first = try batch(from: 10, to: 12), second = try batch(from: 12, to: 14)
        let out = replicator.received(.entries(first), from: "b")
        let checkpoint = try #require(out.lazy.compactMap { directive -> Checkpoint? in
            if case .store(_, _, let checkpoint) = directive { return checkpoint }
            return nil
        }.first)
        _ = replicator.received(.entries(second), from: "b")
        _ = replicator.members(peers: ["a", "b"], verifiers: replicator.settings.verifiers, writers: [:], revoked: ["a": [keys.old.publicKey: 11]],
                               named: ["a": [keys.successor.publicKey]])
        let stored = replicator.stored(first, checkpoint: checkpoint, from: "b")
        #expect(replicator.disownedLogs.contains("a"), "\(stored)")
        #expect(!Self.stores(stored), "the batch that waited behind it is stored too: \(stored)")
        #expect(!stored.contains { if case .send(_, .entries) = $0 { return true }; return false }, "passed on: \(stored)")
        #expect(stored.contains { if case .alert(let alert) = $0 { return alert.kind == .rejected && alert.log == "a" }; return false }, "\(stored)")
        #expect(!Self.announces(replicator.tick(), "a"))
    }

    /// `a`'s heads in a round's heads messages.
    static func announces(_ out: [Directive], _ log: String) -> Bool {
        out.contains { if case .send(_, .heads(let heads)) = $0 { return heads.contains { $0.log == log } }; return false }
    }

    /// A node that stored `a`'s checkpoint of 12 signed by `old` before the file revoked `old`
    /// after 11 (a thief's second history, relayed in good faith; finding 207): every node
    /// holding the real history refused it every round and blamed the relay (closing its
    /// connection every ten rounds, for good). Now nobody is blamed for a note signed past a
    /// revocation, and the relay stops announcing it once its own file revokes the key.
    @Test func aHeadSignedPastARevocationBlamesNobodyAndIsNoLongerAnnounced() throws {
        let keys = try Keys()
        let past = Checkpoint(origin: Self.origin, size: 12, root: Hash.leaf([12]), timeMillis: 3)
        let note = try NoteSigner(name: Self.origin, key: keys.old).sign(past).serialized
        var (node, _) = try Self.node(keys, revoked: true)
        for _ in 0..<12 {
            let out = node.received(.heads([Message.Head(log: "a", note: note)]), from: "b")
            #expect(out.isEmpty, "\(out)")
            _ = node.tick()
        }
        // A note under the revoked key's id whose signature does not verify is still blamed.
        var parsed = try SignedNote(parsing: note)
        parsed.signatures[0].signature[0] ^= 1
        let forged = node.received(.heads([Message.Head(log: "a", note: parsed.serialized)]), from: "b")
        #expect(forged.contains { if case .alert(let alert) = $0 { return alert.kind == .rejected && alert.peer == "b" }; return false }, "\(forged)")

        // The relay: it holds the note, announced until its file revokes the key, then not.
        var (relay, _) = try Self.node(keys, revoked: false, headSize: 12)
        #expect(Self.announces(relay.tick(), "a"))
        let reloaded = relay.members(peers: ["a", "b"], verifiers: relay.settings.verifiers, writers: [:],
                                     revoked: ["a": [keys.old.publicKey: 11]], named: ["a": [keys.successor.publicKey]])
        #expect(reloaded.contains { if case .alert(let alert) = $0 { return alert.kind == .rejected && alert.log == "a" && alert.peer == nil }; return false },
                "\(reloaded)")
        #expect(!Self.announces(relay.tick(), "a"))
        // Said once, not at every reload; a file that no longer revokes the key announces it again.
        let again = relay.members(peers: ["a", "b"], verifiers: relay.settings.verifiers, writers: [:],
                                  revoked: ["a": [keys.old.publicKey: 11]], named: ["a": [keys.successor.publicKey]])
        #expect(!again.contains { if case .alert = $0 { return true }; return false }, "\(again)")
        _ = relay.members(peers: ["a", "b"], verifiers: relay.settings.verifiers, writers: [:])
        #expect(Self.announces(relay.tick(), "a"))
        // A head past the rotation the chain stops at (one the file disowns), signed by the key
        // rotated to, is disowned too (was: announced, every peer holding the real history
        // asking this relay for the rotation, refusing it and blaming the relay); a file that
        // names the key rotated to follows it again.
        let (_, rotation) = try Self.batch(rotatingTo: keys.thief, keys)
        var stopped = try Self.node(keys, revoked: true, rotations: [rotation], headSize: 11, headKey: keys.thief)
        #expect(stopped.0.stopped["a"] != nil && stopped.0.disownedLogs == ["a"])
        #expect(!Self.announces(stopped.0.tick(), "a"))
        _ = stopped.0.members(peers: ["a", "b"], verifiers: stopped.0.settings.verifiers, writers: [:], revoked: ["a": [keys.old.publicKey: 11]],
                              named: ["a": [keys.successor.publicKey, keys.thief.publicKey]])
        #expect(stopped.0.stopped.isEmpty && stopped.0.disownedLogs.isEmpty)
        #expect(Self.announces(stopped.0.tick(), "a"))
        // At a start under the revoking file: said, and not announced.
        var (restarted, started) = try Self.node(keys, revoked: true, headSize: 12)
        #expect(started.contains { if case .alert(let alert) = $0 { return alert.kind == .rejected && alert.log == "a" }; return false }, "\(started)")
        #expect(!Self.announces(restarted.tick(), "a"))
        // Nor served, compared or continued: the real history's heads (here a checkpoint of 11 by
        // the successor's chain, which would differ from the stored tree) make no comparison, so
        // no evidence nobody could verify; a request is answered `unavailable`; a batch is not taken.
        let real = Checkpoint(origin: Self.origin, size: 11, root: Hash.leaf([99]), timeMillis: 4)
        let shown = restarted.received(.heads([Message.Head(log: "a", note: try NoteSigner(name: Self.origin, key: keys.old).sign(real).serialized)]), from: "b")
        #expect(shown.isEmpty, "\(shown)")
        let asked = restarted.received(.request(log: "a", from: 10), from: "b")
        #expect(asked.allSatisfy { if case .send(_, .unavailable) = $0 { return true }; return false } && !asked.isEmpty, "\(asked)")
        let (pushed, _) = try Self.batch(rotatingTo: keys.successor, keys)
        #expect(restarted.received(.entries(pushed), from: "b").isEmpty)
    }

    /// A relay not reloaded yet pushes a thief's batch signed past the revocation: nothing of it
    /// is taken and the relay is not blamed (the log is asked of another peer); a witness that
    /// cosigned such a checkpoint of a restored node's own log is not blamed either; evidence
    /// resting on such a note is excused (a copy that stored it compares it in good faith).
    @Test func batchesWitnessedNotesAndEvidenceSignedPastARevocationBlameNobody() throws {
        let keys = try Keys()
        var (node, _) = try Self.node(keys, revoked: true)
        let entries = try (10...11).map { index in
            WireEntry(try Entry(log: "a", index: index, timeMillis: 2, type: "test.note", classification: "public",
                                author: "x", payload: Array("{}".utf8), salt: [UInt8](repeating: 3, count: 32)))
        }
        let past = Checkpoint(origin: Self.origin, size: 12, root: Hash.leaf([12]), timeMillis: 3)
        let note = try NoteSigner(name: Self.origin, key: keys.old).sign(past).serialized
        let thiefs = Batch(log: "a", from: 10, note: note, entries: entries)
        let out = node.received(.entries(thiefs), from: "b")
        #expect(!Self.stores(out) && !out.contains { if case .alert = $0 { return true }; return false }, "\(out)")
        // The thief commits at its own pace, and the relay passes on every batch: more in a round
        // than the round's checks are put off, not blamed.
        for i in 0..<(Replicator.maxPastKeyChecksPerRound + 4) {
            let later = try NoteSigner(name: Self.origin, key: keys.old).sign(Checkpoint(origin: Self.origin, size: 13 + UInt64(i), root: Hash.leaf([UInt8(i)]), timeMillis: 3))
            let pushed = node.received(.entries(Batch(log: "a", from: 10, note: later.serialized, entries: entries)), from: "b")
            #expect(!Self.stores(pushed) && !pushed.contains { if case .alert = $0 { return true }; return false }, "push \(i): \(pushed)")
        }
        _ = node.tick()
        // Evidence pairing it with another checkpoint: not held against the sender.
        let other = try NoteSigner(name: Self.origin, key: keys.old).sign(Checkpoint(origin: Self.origin, size: 12, root: Hash.leaf([13]), timeMillis: 3)).serialized
        let evidence = node.received(.evidence(Evidence(log: "a", first: note, second: other, prefixRoot: Hash.leaf([13]), proof: [])), from: "b")
        #expect(!evidence.contains { if case .alert(let alert) = $0 { return alert.kind == .rejected }; return false }, "\(evidence)")
        // Junk under the revoked key's id past the round's budget of checks is blamed.
        var blamed = false
        for i in 0..<(Replicator.maxPastKeyChecksPerRound + 2) {
            var parsed = try SignedNote(parsing: try NoteSigner(name: Self.origin, key: keys.old).sign(
                Checkpoint(origin: Self.origin, size: 20 + UInt64(i), root: Hash.leaf([UInt8(i)]), timeMillis: 3)).serialized)
            parsed.signatures[0].signature[1] ^= 1
            blamed = blamed || node.received(.heads([Message.Head(log: "a", note: parsed.serialized)]), from: "b").contains { if case .alert(let alert) = $0 { return alert.kind == .rejected }; return false }
        }
        #expect(blamed)
    }
}

import Foundation
import QuartetCrypto
import QuartetLedger
import Testing

/// Key rotation inside a log: `KeyRotation` (the entry) and `KeyChain` (the keys over the log's
/// history, with revocations).
@Suite struct KeyChainTests {
    static let origin = "quartet.test/wales"

    static func checkpoint(_ size: UInt64, signedBy keys: [Ed25519PrivateKey]) throws -> SignedNote {
        let checkpoint = Checkpoint(origin: origin, size: size, root: Hash.emptyTree, timeMillis: 1)
        var note = try NoteSigner(name: origin, key: keys[0]).sign(checkpoint)
        for key in keys.dropFirst() { note.signatures += try NoteSigner(name: origin, key: key).sign(checkpoint).signatures }
        return note
    }

    @Test func aRotationIsReadBackAndMovesTheKeyForLaterCheckpoints() throws {
        let old = try Ed25519PrivateKey(), new = try Ed25519PrivateKey()
        let rotation = try KeyRotation.make(origin: Self.origin, index: 7, previous: old, key: new)
        #expect(try KeyRotation(origin: Self.origin, index: 7, payload: rotation.payload) == rotation)
        var chain = KeyChain(pinned: NoteVerifier(name: Self.origin, publicKey: old.publicKey))
        try chain.apply(rotation)
        try chain.apply(rotation)  // the same one again changes nothing
        #expect(chain.rotations.count == 1)
        #expect(chain.key(forSize: 7) == old.publicKey && chain.key(forSize: 8) == new.publicKey && chain.current == new.publicKey)
        // Up to 7 the old key signs; from 8 the new one (a co-signature by the old one is ignored).
        #expect(try chain.verifyCheckpoint(try Self.checkpoint(7, signedBy: [old])).checkpoint.size == 7)
        let both = try chain.verifyCheckpoint(try Self.checkpoint(8, signedBy: [new, old]))
        #expect(both.note.signatures.count == 1)
        #expect(throws: LedgerError.self) { try chain.verifyCheckpoint(try Self.checkpoint(8, signedBy: [old])) }
        #expect(throws: LedgerError.self) { try chain.verifyCheckpoint(try Self.checkpoint(7, signedBy: [new])) }
        #expect(chain.signedByUnknownKey(try Self.checkpoint(9, signedBy: [try Ed25519PrivateKey()])))
        #expect(!chain.signedByUnknownKey(try Self.checkpoint(9, signedBy: [new])))
    }

    @Test func forgedRotationsAreRefused() throws {
        let old = try Ed25519PrivateKey(), new = try Ed25519PrivateKey(), thief = try Ed25519PrivateKey()
        let pinned = NoteVerifier(name: Self.origin, publicKey: old.publicKey)
        // Signed by the new key only: the "previous" signature is by a key that is not in force.
        let byNewKeyOnly = try KeyRotation.make(origin: Self.origin, index: 3, previous: thief, key: new)
        var chain = KeyChain(pinned: pinned)
        #expect(throws: LedgerError.self) { try chain.apply(byNewKeyOnly) }
        // Claiming the key in force as previous, with a signature it did not make.
        var claimed = byNewKeyOnly
        claimed.previous = old.publicKey
        #expect(throws: LedgerError.self) { try KeyRotation(origin: Self.origin, index: 3, payload: claimed.payload) }
        // A genuine rotation moved to another index, or to another origin, does not verify.
        let genuine = try KeyRotation.make(origin: Self.origin, index: 3, previous: old, key: new)
        #expect(throws: LedgerError.self) { try KeyRotation(origin: Self.origin, index: 4, payload: genuine.payload) }
        #expect(throws: LedgerError.self) { try KeyRotation(origin: "quartet.test/england", index: 3, payload: genuine.payload) }
        // Not signed by the new key: nobody may rotate to a key they do not hold.
        var unsignedNew = genuine
        unsignedNew.keySignature = genuine.previousSignature
        #expect(throws: LedgerError.self) { try KeyRotation(origin: Self.origin, index: 3, payload: unsignedNew.payload) }
        // The payload's form is fixed: extra spaces, fields or another order are refused.
        let spaced = Array(String(decoding: genuine.payload, as: UTF8.self).replacingOccurrences(of: ",", with: ", ").utf8)
        #expect(throws: LedgerError.self) { try KeyRotation(origin: Self.origin, index: 3, payload: spaced) }
        #expect(throws: LedgerError.self) { try KeyRotation(origin: Self.origin, index: 3, payload: Array("{}".utf8)) }
        // Two different rotations at one index (the old key signing twice) cannot both hold.
        try chain.apply(genuine)
        #expect(throws: LedgerError.self) { try chain.apply(try KeyRotation.make(origin: Self.origin, index: 3, previous: old, key: thief)) }
    }

    @Test func aRevokedKeySignsNothingBeyondItsLimit() throws {
        let old = try Ed25519PrivateKey(), new = try Ed25519PrivateKey(), thief = try Ed25519PrivateKey()
        // (The federation names the key the owner rotates to: a revoked key rotates to no other.)
        var chain = try KeyChain(origin: Self.origin, pinned: old.publicKey, revoked: [old.publicKey: 10], named: [new.publicKey])
        // The thief's rotation at 12, signed by the revoked key: refused.
        #expect(throws: LedgerError.self) { try chain.apply(try KeyRotation.make(origin: Self.origin, index: 12, previous: old, key: thief)) }
        // The thief's checkpoint at 11 with the old key: refused; the owner's at 10: fine.
        #expect(throws: LedgerError.self) { try chain.verifyCheckpoint(try Self.checkpoint(11, signedBy: [old])) }
        #expect(try chain.verifyCheckpoint(try Self.checkpoint(10, signedBy: [old])).checkpoint.size == 10)
        // The owner's rotation at 9 stands, and the new key signs from 10 on.
        try chain.apply(try KeyRotation.make(origin: Self.origin, index: 9, previous: old, key: new))
        #expect(try chain.verifyCheckpoint(try Self.checkpoint(11, signedBy: [new])).checkpoint.size == 11)
    }

    /// A rotation signed by a key the federation revoked counts only to a key the federation
    /// names for the log (its pinned key, `current_vkey` or a revoked key), at any index: below
    /// the revocation's limit too, where a thief holding the key can still sign (finding 115).
    @Test func aRevokedKeyRotatesOnlyToAKeyTheFederationNames() throws {
        let old = try Ed25519PrivateKey(), successor = try Ed25519PrivateKey(), thief = try Ed25519PrivateKey(), other = try Ed25519PrivateKey()
        func chain(revoked: [Ed25519PublicKey: UInt64], named: Set<Ed25519PublicKey>) throws -> KeyChain {
            try KeyChain(origin: Self.origin, pinned: old.publicKey, revoked: revoked, named: named)
        }
        // The writer rotated old → successor at 10 (`--no-overlap`); the file revokes old after
        // 11, naming the successor as current_vkey.
        var revoked = try chain(revoked: [old.publicKey: 11], named: [successor.publicKey])
        // The thief's rotation to a key of its own, below the fork point of a lagging copy and
        // at the writer's own index: refused, whatever the index below the limit.
        for index: UInt64 in [0, 4, 10] {
            #expect(throws: LedgerError.self) { try revoked.apply(try KeyRotation.make(origin: Self.origin, index: index, previous: old, key: thief)) }
        }
        #expect(revoked.rotations.isEmpty)
        // The writer's rotation to the key the file names: followed.
        try revoked.apply(try KeyRotation.make(origin: Self.origin, index: 10, previous: old, key: successor))
        #expect(revoked.key(forSize: 11) == successor.publicKey)
        // To another key the file revokes (a key it lists): followed too.
        var toRevoked = try chain(revoked: [old.publicKey: 11, other.publicKey: 20], named: [])
        try toRevoked.apply(try KeyRotation.make(origin: Self.origin, index: 5, previous: old, key: other))
        #expect(toRevoked.current == other.publicKey)
        // A key the file does not revoke may rotate to any key: another key's revocation, or the
        // named keys, change nothing for it.
        var unrevoked = try chain(revoked: [other.publicKey: 3], named: [successor.publicKey])
        try unrevoked.apply(try KeyRotation.make(origin: Self.origin, index: 4, previous: old, key: thief))
        #expect(unrevoked.current == thief.publicKey)
        var plain = KeyChain(pinned: NoteVerifier(name: Self.origin, publicKey: old.publicKey))
        try plain.apply(try KeyRotation.make(origin: Self.origin, index: 4, previous: old, key: thief))
        #expect(plain.current == thief.publicKey)
    }

    /// A chain built from rotations already stored stops before the first the federation now
    /// disowns (a thief's rotation stored before the revocation): neither the key it rotates to
    /// nor any later key is in force anywhere; the rotations left out are returned.
    @Test func aStoredRotationTheFederationDisownsStopsTheChain() throws {
        let old = try Ed25519PrivateKey(), successor = try Ed25519PrivateKey(), thief = try Ed25519PrivateKey(), later = try Ed25519PrivateKey()
        let pinned = NoteVerifier(name: Self.origin, publicKey: old.publicKey)
        let stored = [try KeyRotation.make(origin: Self.origin, index: 6, previous: old, key: thief),
                      try KeyRotation.make(origin: Self.origin, index: 9, previous: thief, key: later)]
        // Before the revocation (or for a key never revoked) the chain follows them.
        let before = KeyChain.followed(pinned: pinned, rotations: stored, revoked: [:], named: [])
        #expect(before.stopped == nil && before.chain.current == later.publicKey)
        let after = KeyChain.followed(pinned: pinned, rotations: stored, revoked: [old.publicKey: 11], named: [successor.publicKey])
        #expect(after.chain.rotations.isEmpty && after.chain.current == old.publicKey)
        #expect(after.stopped?.rotation == stored[0] && after.stopped?.leftOut == stored)
        #expect(after.stopped?.reason.contains("names nowhere") == true, "\(String(describing: after.stopped))")
        #expect(after.chain.revoked == [old.publicKey: 11] && after.chain.named == [successor.publicKey])
        // The thief's checkpoints beyond its rotation verify under nothing; the old key's within
        // its limit still do.
        #expect(throws: LedgerError.self) { try after.chain.verifyCheckpoint(try Self.checkpoint(8, signedBy: [thief])) }
        #expect(throws: LedgerError.self) { try after.chain.verifyCheckpoint(try Self.checkpoint(12, signedBy: [later])) }
        #expect(throws: LedgerError.self) { try after.chain.verifyCheckpoint(try Self.checkpoint(12, signedBy: [old])) }
        #expect(try after.chain.verifyCheckpoint(try Self.checkpoint(8, signedBy: [old])).checkpoint.size == 8)
        // The writer's own rotation to the named key is followed whole.
        let honest = KeyChain.followed(pinned: pinned, rotations: [try KeyRotation.make(origin: Self.origin, index: 10, previous: old, key: successor)],
                                       revoked: [old.publicKey: 11], named: [successor.publicKey])
        #expect(honest.stopped == nil && honest.chain.key(forSize: 11) == successor.publicKey)
    }

    /// A log's chain is short and never comes back to a key (finding 180): rotations that cycle
    /// two keys, or go back to the pinned key a thief kept from before a routine rotation, are
    /// refused; and a log holds at most `maxRotations`.
    @Test func aChainNeverReturnsToAKeyAndStaysShort() throws {
        let pinned = try Ed25519PrivateKey(), second = try Ed25519PrivateKey(), third = try Ed25519PrivateKey()
        var chain = KeyChain(pinned: NoteVerifier(name: Self.origin, publicKey: pinned.publicKey))
        try chain.apply(try KeyRotation.make(origin: Self.origin, index: 3, previous: pinned, key: second))
        for back in [pinned] {
            #expect(throws: LedgerError.self) { try chain.apply(try KeyRotation.make(origin: Self.origin, index: 5, previous: second, key: back)) }
        }
        try chain.apply(try KeyRotation.make(origin: Self.origin, index: 5, previous: second, key: third))
        for back in [pinned, second] {
            do {
                try chain.apply(try KeyRotation.make(origin: Self.origin, index: 9, previous: third, key: back))
                Issue.record("a rotation back to an earlier key was followed")
            } catch let error as LedgerError {
                #expect(error.message.contains("a key the log signed with before"), "\(error)")
            }
        }
        #expect(chain.keys == [pinned.publicKey, second.publicKey, third.publicKey])
        // Stored rotations that cycle stop the chain where they come back.
        let cycled = [try KeyRotation.make(origin: Self.origin, index: 1, previous: pinned, key: second),
                      try KeyRotation.make(origin: Self.origin, index: 2, previous: second, key: pinned),
                      try KeyRotation.make(origin: Self.origin, index: 4, previous: pinned, key: second)]
        let followed = KeyChain.followed(pinned: NoteVerifier(name: Self.origin, publicKey: pinned.publicKey), rotations: cycled, revoked: [:], named: [])
        #expect(followed.chain.rotations == [cycled[0]] && followed.stopped?.leftOut == Array(cycled[1...]))
        #expect(followed.stopped?.reason.contains("a key the log signed with before") == true)
        // What a store took before these limits opens as it was stored (an upgrade must not
        // leave a copy unopenable): the chain's own rules still hold there.
        var stored = KeyChain(pinned: NoteVerifier(name: Self.origin, publicKey: pinned.publicKey))
        for rotation in cycled { try stored.applyStored(rotation) }
        #expect(stored.rotations == cycled && stored.current == second.publicKey)
        #expect(throws: LedgerError.self) { try stored.applyStored(try KeyRotation.make(origin: Self.origin, index: 3, previous: second, key: third)) }
        do { try stored.apply(try KeyRotation.make(origin: Self.origin, index: 7, previous: second, key: pinned)); Issue.record("a new cycling rotation was taken") } catch let error as LedgerError {
            #expect(error.code == .chainLimit, "\(error)")
        }

        // At most maxRotations, each to a new key.
        var keys = [pinned]
        var long = KeyChain(pinned: NoteVerifier(name: Self.origin, publicKey: pinned.publicKey))
        for i in 0..<KeyChain.maxRotations {
            let next = try Ed25519PrivateKey()
            try long.apply(try KeyRotation.make(origin: Self.origin, index: UInt64(i), previous: keys.last!, key: next))
            keys.append(next)
        }
        do {
            try long.apply(try KeyRotation.make(origin: Self.origin, index: UInt64(KeyChain.maxRotations), previous: keys.last!, key: try Ed25519PrivateKey()))
            Issue.record("a rotation beyond the most a log holds was followed")
        } catch let error as LedgerError {
            #expect(error.message.contains("the most a log may"), "\(error)")
        }
        #expect(long.rotations.count == KeyChain.maxRotations && long.current == keys.last!.publicKey)
    }
}

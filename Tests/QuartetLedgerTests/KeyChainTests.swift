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
        var chain = try KeyChain(origin: Self.origin, pinned: old.publicKey, revoked: [old.publicKey: 10])
        // The thief's rotation at 12, signed by the revoked key: refused.
        #expect(throws: LedgerError.self) { try chain.apply(try KeyRotation.make(origin: Self.origin, index: 12, previous: old, key: thief)) }
        // The thief's checkpoint at 11 with the old key: refused; the owner's at 10: fine.
        #expect(throws: LedgerError.self) { try chain.verifyCheckpoint(try Self.checkpoint(11, signedBy: [old])) }
        #expect(try chain.verifyCheckpoint(try Self.checkpoint(10, signedBy: [old])).checkpoint.size == 10)
        // The owner's rotation at 9 stands, and the new key signs from 10 on.
        try chain.apply(try KeyRotation.make(origin: Self.origin, index: 9, previous: old, key: new))
        #expect(try chain.verifyCheckpoint(try Self.checkpoint(11, signedBy: [new])).checkpoint.size == 11)
    }
}

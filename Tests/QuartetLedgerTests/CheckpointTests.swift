import QuartetCrypto
@testable import QuartetLedger
import Testing

@Suite struct CheckpointTests {
    static let root = Hash.leaf([1])

    @Test func bodyFollowsTlogCheckpoint() throws {
        let checkpoint = Checkpoint(origin: "quartet.test/wales", size: 12, root: Self.root, timeMillis: 1_700_000_000_123)
        #expect(checkpoint.body == "quartet.test/wales\n12\n\(Self.root.base64)\nquartet-time 1700000000123\n")
        let parsed = try Checkpoint(parsing: checkpoint.body)
        #expect(parsed == checkpoint && parsed.timeMillis == 1_700_000_000_123)
        #expect(try Checkpoint(parsing: "o\n0\n\(Hash.emptyTree.base64)\n").extensions.isEmpty)
        #expect(try Checkpoint(parsing: "o\n0\n\(Hash.emptyTree.base64)\nquartet-time +5\n").timeMillis == nil)
    }

    /// A Quartet log signs one extension line, `quartet-time <unix-ms>` (or none): a modified
    /// writer's other lines (up to 64 KiB a note, kept with every batch) are refused.
    @Test func onlyTheSigningTimeMayExtendACheckpoint() throws {
        func refusal(_ extensions: [String]) -> String? {
            Checkpoint(origin: "quartet.test/wales", size: 3, root: Self.root, extensions: extensions).extensionRefusal
        }
        #expect(refusal([]) == nil)
        #expect(refusal(["quartet-time 1700000000123"]) == nil && refusal(["quartet-time 0"]) == nil)
        #expect(refusal(["quartet-time 9223372036854775807"]) == nil)
        // Past SQLite's signed 64-bit integer: storing it trapped every node (one member's
        // signed checkpoint stopped all the others).
        for past in ["quartet-time 9223372036854775808", "quartet-time 18446744073709551615"] {
            #expect(refusal([past])?.contains("past the largest time a node stores") == true, "\(past)")
        }
        #expect(refusal(["quartet-time 1", "quartet-time 2"])?.contains("2 extension lines") == true)
        #expect(refusal(["quartet-time 1", String(repeating: "x", count: 60_000)]) != nil)
        for bad in ["quartet-time ", "quartet-time 01", "quartet-time +5", "quartet-time 18446744073709551616",
                    "quartet-time 1 ", "quartet-time \u{301}1", "quartet-time\u{A0}1", "quartet-timex 1", "other 1", "quartet-time 1\r"] {
            #expect(refusal([bad])?.contains("is not `quartet-time <unix-ms>`") == true, "\(bad)")
        }
        // What a writer signs passes.
        #expect(Checkpoint(origin: "o", size: 1, root: Self.root, timeMillis: Checkpoint.maxTimeMillis).extensionRefusal == nil)
    }

    /// The ASCII fast path of `isValidOrigin` decides exactly as the Unicode rule does: every
    /// ASCII byte alone, in the middle of a name, and random mixes with non-ASCII scalars.
    @Test func originsAreJudgedAsTheUnicodeRuleJudgesThem() {
        func byRule(_ origin: String) -> Bool {
            !origin.isEmpty && origin.utf8.count <= 255 && origin.unicodeScalars.allSatisfy(Checkpoint.isOriginScalar)
        }
        for byte in UInt8(0)...0x7F {
            let scalar = String(UnicodeScalar(byte))
            for origin in [scalar, "quartet.test/\(scalar)wales", "\(scalar)a"] {
                #expect(Checkpoint.isValidOrigin(origin) == byRule(origin), "byte \(byte)")
            }
        }
        // Spaces and controls outside ASCII still count (no-break space, NEL, line separator, ideographic space).
        for origin in ["a\u{A0}b", "a\u{85}b", "a\u{2028}b", "a\u{3000}b", "a\u{200B}b", "café.example/log", "ωмега"] {
            #expect(Checkpoint.isValidOrigin(origin) == byRule(origin), "\(origin.unicodeScalars.map { $0.value })")
        }
        #expect(!Checkpoint.isValidOrigin("a\u{A0}b") && Checkpoint.isValidOrigin("café.example/log"))
        var random = SystemRandomNumberGenerator()
        let pool: [UInt32] = [0x09, 0x20, 0x2B, 0x41, 0x7F, 0x85, 0xA0, 0xE9, 0x1680, 0x2028, 0x3000, 0xFEFF, 0x1F600]
        for _ in 0..<2_000 {
            let origin = String(String.UnicodeScalarView((0..<Int.random(in: 0...6, using: &random)).map { _ in
                Unicode.Scalar(pool.randomElement(using: &random)!)!
            }))
            #expect(Checkpoint.isValidOrigin(origin) == byRule(origin), "\(origin.unicodeScalars.map { $0.value })")
        }
        #expect(!Checkpoint.isValidOrigin(String(repeating: "a", count: 256)) && Checkpoint.isValidOrigin(String(repeating: "a", count: 255)))
    }

    @Test func malformedBodiesAreRefused() {
        let r = Self.root.base64
        for body in ["o\n1\n\(r)", "o\n01\n\(r)\n", "o\n-1\n\(r)\n", "o\n1\nnotbase64\n", "o\n1\n\n", "has space\n1\n\(r)\n",
                     "o\n1\n\(r)\n\nx\n", "o\n1\n", "o\n18446744073709551616\n\(r)\n"] {
            #expect(throws: LedgerError.self, "\(body.debugDescription)") { try Checkpoint(parsing: body) }
        }
    }
}

@Suite struct SignedNoteTests {
    // The example from golang.org/x/mod/sumdb/note's documentation.
    static let goVKey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    static let goText = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
    static let goNote = goText + "\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    static let goSeed = Array(Base64.decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")!.dropFirst())

    @Test func verifiesGoNoteExample() throws {
        let verifier = try NoteVerifier(vkey: Self.goVKey)
        #expect(verifier.name == "PeterNeumann" && Hex.encode(verifier.keyID) == "c74f20a3")
        #expect(verifier.vkey == Self.goVKey)
        let note = try SignedNote(parsing: Self.goNote)
        #expect(note.text == Self.goText && note.serialized == Self.goNote)
        try verifier.verify(note)
    }

    @Test func signsExactlyAsGoDoes() throws {
        let signer = try NoteSigner(name: "PeterNeumann", key: try Ed25519PrivateKey(rawRepresentation: Self.goSeed))
        #expect(signer.verifier.vkey == Self.goVKey)
        #expect(try signer.sign(text: Self.goText).serialized == Self.goNote)
    }

    @Test func verifierKeysWithPlusInTheirBase64RoundTrip() throws {
        var found = 0
        while found < 3 {
            let signer = try NoteSigner(name: "quartet.test/wales", key: try Ed25519PrivateKey())
            let vkey = signer.verifier.vkey
            guard vkey.split(separator: "+").count > 3 else { continue }
            #expect(try NoteVerifier(vkey: vkey) == signer.verifier)
            found += 1
        }
    }

    @Test func tamperingIsRejected() throws {
        let key = try Ed25519PrivateKey()
        let signer = try NoteSigner(name: "quartet.test/wales", key: key)
        let checkpoint = Checkpoint(origin: "quartet.test/wales", size: 3, root: Hash.leaf([9]), timeMillis: 5)
        let note = try signer.sign(checkpoint)
        #expect(try signer.verifier.verifyCheckpoint(SignedNote(parsing: note.serialized)) == checkpoint)

        var text = note
        text.text = Checkpoint(origin: "quartet.test/wales", size: 4, root: Hash.leaf([9]), timeMillis: 5).body
        #expect(throws: LedgerError.self) { try signer.verifier.verifyCheckpoint(text) }
        var sig = note
        sig.signatures[0].signature[0] ^= 1
        #expect(throws: LedgerError.self) { try signer.verifier.verifyCheckpoint(sig) }
        // A bad first signature by the key is not excused by a good one after it (as in Go).
        var twice = note
        twice.signatures = [sig.signatures[0], note.signatures[0]]
        #expect(throws: LedgerError.self) { try signer.verifier.verifyCheckpoint(twice) }
        let other = try NoteSigner(name: "quartet.test/wales", key: try Ed25519PrivateKey())
        #expect(throws: LedgerError.self) { try other.verifier.verifyCheckpoint(note) }
        // A checkpoint for another origin, validly signed under that name, is not this log's.
        let impostor = try NoteSigner(name: "quartet.test/england", key: key)
        #expect(throws: LedgerError.self) { try impostor.sign(checkpoint) }
        #expect(throws: LedgerError.self) { try impostor.verifier.verifyCheckpoint(note) }
    }

    @Test func malformedNotesAndKeysAreRefused() {
        for text in ["no blank line\n\u{2014} a AAAA\n", "text\n\n", "text\n\n- a AAAAAAAA\n", "text\n\n\u{2014} a notbase64!\n",
                     "text\n\n\u{2014} a AAAA\n", "text\n\n\u{2014} a AAAAAAAA"] {
            #expect(throws: LedgerError.self, "\(text.debugDescription)") { try SignedNote(parsing: text) }
        }
        for vkey in ["", "a+b", "a+c74f20a3+ARpc", "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                     "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"] {
            #expect(throws: LedgerError.self, "\(vkey)") { try NoteVerifier(vkey: vkey) }
        }
    }
}

@Suite struct EncodingTests {
    @Test func base64RoundTripsAndIsStrict() {
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(($0 * 37 + n) & 0xFF) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        for bad in ["Zm8", "Zm9=", "Z===", "Zm 8=", "Zm8=Zm8=", "Zm-_"] { #expect(Base64.decode(bad) == nil, "\(bad)") }
    }
}

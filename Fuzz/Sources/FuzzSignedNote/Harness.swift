import FuzzFixtures
import FuzzSupport
import QuartetLedger

/// Signed notes and checkpoints (Sources/QuartetLedger/SignedNote.swift, Checkpoint.swift;
/// docs/formats.md sections 5 and 6), against the fixed key of docs/formats.md section 8.
///
/// The input is read as a serialized note, as a checkpoint body, and its first line as a
/// verifier key. Checked:
/// - parsing never traps;
/// - a parsed note serializes to exactly the input (one text per note: canonical base64, one
///   space, the text up to the last blank line) and parses back to itself;
/// - verification against the pinned key never traps, and succeeds only for a checkpoint whose
///   origin is the key name;
/// - the note's text, signed with the fixed key, verifies, and verifies as a checkpoint exactly
///   when it parses as one with the key's name as origin;
/// - a parsed checkpoint's `body` is exactly the text it came from, each of its lines is one
///   line of the text (no newline inside a field), and it parses back to itself.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSignedNote(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    let text = String(decoding: input, as: UTF8.self)
    let verifier = Fixtures.verifier

    if let note = try? SignedNote(parsing: text) {
        fuzzCheck(Array(note.serialized.utf8) == Array(text.utf8), "note: serializes to other bytes than it was parsed from",
                  "parsed \(describe(text.utf8))\nserialized \(describe(note.serialized.utf8))")
        fuzzCheck((try? SignedNote(parsing: note.serialized)) == note, "note: does not parse back to itself")
        fuzzCheck(note.text.utf8.last == 0x0A, "note: text does not end with a newline")
        for signature in note.signatures {
            fuzzCheck(signature.keyID.count == 4, "note: a key id of \(signature.keyID.count) bytes")
            fuzzCheck(Checkpoint.isValidOrigin(signature.keyName), "note: an invalid key name was accepted")
        }
        if let checkpoint = try? verifier.verifyCheckpoint(note) {
            fuzzCheck(checkpoint.origin == verifier.name, "note: verifies as a checkpoint of another origin")
        }

        // Signed by the fixed key, the same text verifies, as a checkpoint exactly when it is one.
        do {
            let signed = try Fixtures.signer.sign(text: note.text)
            let reparsed = try SignedNote(parsing: signed.serialized)
            try verifier.verify(reparsed)
            let asCheckpoint = try? Checkpoint(parsing: note.text)
            let verified = try? verifier.verifyCheckpoint(reparsed)
            fuzzCheck((verified != nil) == (asCheckpoint?.origin == verifier.name),
                      "note: verifyCheckpoint disagrees with Checkpoint(parsing:)", describe(note.text.utf8))
        } catch {
            fuzzFailure("note: its text, signed with the fixed key, does not verify: \(error)", describe(note.text.utf8))
        }
    }

    if let checkpoint = try? Checkpoint(parsing: text) {
        fuzzCheck(Array(checkpoint.body.utf8) == Array(text.utf8), "checkpoint: body differs from the text it was parsed from",
                  "parsed \(describe(text.utf8))\nbody \(describe(checkpoint.body.utf8))")
        let fields = [checkpoint.origin, checkpoint.root.base64] + checkpoint.extensions
        fuzzCheck(!fields.contains { $0.utf8.contains(0x0A) }, "checkpoint: a line holds a newline byte", describe(text.utf8))
        fuzzCheck(text.utf8.filter { $0 == 0x0A }.count == 3 + checkpoint.extensions.count,
                  "checkpoint: \(3 + checkpoint.extensions.count) lines parsed from a text of \(text.utf8.filter { $0 == 0x0A }.count)", describe(text.utf8))
        fuzzCheck((try? Checkpoint(parsing: checkpoint.body)) == checkpoint, "checkpoint: does not parse back to itself")
        _ = checkpoint.timeMillis
    }

    let firstLine = String(decoding: input.prefix { $0 != 0x0A }, as: UTF8.self)
    if let key = try? NoteVerifier(vkey: firstLine) {
        fuzzCheck((try? NoteVerifier(vkey: key.vkey)) == key, "vkey: does not parse back to itself", firstLine.debugDescription)
    }
    return 0
}

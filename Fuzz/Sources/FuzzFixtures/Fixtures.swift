import QuartetCrypto
import QuartetLedger

/// The test signing key of docs/formats.md section 8 (Ed25519 seed 0x51 repeated, public, never a
/// real log's) for the origin `quartet.ot-workforce.uk/wales`: the corpus's real checkpoint
/// notes verify against it.
public enum Fixtures {
    public static let origin = "quartet.ot-workforce.uk/wales"
    public static let vkey = "quartet.ot-workforce.uk/wales+14aefc5a+AcBQxWN6RPqGKf/zzMziMAyzYqY9mdlfxUFFJm9DMkRa"

    public static let signer: NoteSigner = {
        do {
            return try NoteSigner(name: origin, key: try Ed25519PrivateKey(rawRepresentation: [UInt8](repeating: 0x51, count: 32)))
        } catch {
            fatalError("the fixture key: \(error)")
        }
    }()

    public static let verifier: NoteVerifier = {
        do {
            let verifier = try NoteVerifier(vkey: vkey)
            precondition(verifier == signer.verifier, "the fixture vkey is not the fixture key's")
            return verifier
        } catch {
            fatalError("the fixture vkey: \(error)")
        }
    }()
}

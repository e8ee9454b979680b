import Foundation
import QuartetCrypto
import QuartetLedger

// MARK: Reviewing before signing

extension FederationTrust {
    /// Checks that `bytes` are the file a member reviewed, pinned by the SHA-256 `show` printed
    /// (`hex`, 64 hex digits, either case). Throws saying both digests otherwise.
    public static func checkPinned(_ bytes: [UInt8], sha256 hex: String) throws(Refusal) {
        guard hex.utf8.count == 64, let pinned = Hex.decode(hex.lowercased()), pinned.count == 32 else {
            throw Refusal("--sha256 expects the 64 hex digits `quartet federation show` prints, found \"\(hex.prefix(80))\"")
        }
        let actual = SHA256.hash(bytes)
        guard actual == pinned else {
            throw Refusal("the file's sha256 is \(Hex.encode(actual)), not \(Hex.encode(pinned)) as given with --sha256: it is not the file that was reviewed (it changed since); nothing was signed")
        }
    }

    /// What the signatures of a baseline (the version in use a change is reviewed against, given
    /// as `--accepted`) show: nil when it has none (the caller warns that it is unsigned);
    /// otherwise the members of its own who signed, when they are a quorum of them, as a node
    /// that accepted nothing before checks a file. Throws when the signatures are not over these
    /// bytes or are no quorum: a baseline handed over with a change could be made up to hide
    /// what the change does. (A node's `federation.accepted.json` was accepted on the signatures
    /// of the version before, which is not kept: a version that changed most of the members can
    /// fail this check though a node accepted it.)
    ///
    /// Signatures about other bytes are refused (a baseline altered to hide what a change does);
    /// signatures about these bytes by fewer than a quorum of its own members are returned with
    /// `quorum` false (the caller says so): honest after a change of most members.
    public static func checkBaseline(file bytes: [UInt8], federation: Federation, note: SignedNote?) throws(Refusal) -> (signers: [String], quorum: Bool)? {
        guard let note else { return nil }
        do {
            return (try check(file: bytes, federation: federation, note: note, accepted: nil), true)
        } catch {
            // About these bytes (the statement matches them), yet no quorum: said, not refused.
            guard let stated = Statement(text: note.text), stated == Statement(file: bytes, federation: federation) else { throw error }
            return (signers(of: note, among: federation, revocations: federation), false)
        }
    }

    /// Why the node `node`, whose data directory is `dataDirectory`, would refuse `federation`
    /// at a reload for what it changes from the version in force there (the accepted file,
    /// `Federation.reloadConflict`: a member's log, log key or role, the aggregator, the data
    /// owners), or nil; nil too when the node has accepted no file yet (a first start makes
    /// no such check).
    public static func reloadConflict(of federation: Federation, dataDirectory: String, node: String) throws -> String? {
        let acceptedFile = acceptedPath(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: acceptedFile) else { return nil }
        let bytes = try readBounded(acceptedFile, limit: maxFileBytes, what: "accepted federation file")
        return try Federation.parse(Data(bytes), file: acceptedFile, accepted: true).reloadConflict(with: federation, me: node)
    }
}

import Foundation
import QuartetTestKit
import Testing

/// Quartet's checkpoints and proofs checked by implementations nobody here wrote: Go's
/// golang.org/x/mod/sumdb/note and .../tlog (Debian golang-golang-x-mod-dev) and Python's
/// `cryptography`. scripts/setup.sh installs both.
@Suite(.serialized) struct InteropTests {
    static func buildGoChecker() throws -> URL { try TestKit.goNoteChecker() }

    @Test func goNoteAndTlogAcceptCheckpointsAndEveryProof() throws {
        let dir = try populatedDirectory(count: 13)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let checker = try Self.buildGoChecker()
        let vkey = try TestKit.quartet(["key", "vkey", "--data", data, "--log", "wales"]).stdout.trimmingCharacters(in: .newlines)
        let note = try TestKit.quartet(["checkpoint", "--data", data, "--log", "wales"]).stdout
        var inclusion: [Any] = []
        var consistency: [Any] = []
        for size in [1, 5, 8, 13] {
            for index in 0..<size {
                inclusion.append(try json(["proof", "inclusion", "--data", data, "--log", "wales", "--index", "\(index)", "--size", "\(size)"]))
            }
            for from in 1...size {
                consistency.append(try json(["proof", "consistency", "--data", data, "--log", "wales", "--from", "\(from)", "--to", "\(size)"]))
            }
        }
        let input = try JSONSerialization.data(withJSONObject: ["vkey": vkey, "note": note, "inclusion": inclusion, "consistency": consistency])
        let result = try TestKit.run(checker, [], stdin: Array(input))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("ok note quartet.ot-workforce.uk/wales size 13"))
        #expect(result.stdout.split(separator: "\n").count == 1 + inclusion.count + consistency.count)

        // The same checker refuses a checkpoint whose size was changed, and a proof with a changed hash.
        let forged = note.replacingOccurrences(of: "/wales\n13\n", with: "/wales\n14\n")
        let refused = try TestKit.run(checker, [], stdin: Array(try JSONSerialization.data(withJSONObject: ["vkey": vkey, "note": forged])))
        #expect(refused.status == 1 && refused.stderr.contains("note"), "\(refused.stderr)")
        var bad = try #require(inclusion[3] as? [String: Any])
        var proof = try #require(bad["proof"] as? [String])
        // Change the first base64 character (to one it is not, so the proof really changes).
        proof[0] = (proof[0].first == "A" ? "B" : "A") + proof[0].dropFirst()
        bad["proof"] = proof
        let badProof = try TestKit.run(checker, [], stdin: Array(try JSONSerialization.data(withJSONObject: ["inclusion": [bad]])))
        #expect(badProof.status == 1 && badProof.stderr.contains("inclusion"), "\(badProof.stderr)")
    }

    @Test func pythonCryptographyVerifiesTheCheckpointSignature() throws {
        let dir = try populatedDirectory(count: 3)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let python = try #require(TestKit.which("python3"))
        let script = TestKit.repositoryRoot.appendingPathComponent("Tests/Interop/check_note.py").path
        let vkey = try TestKit.quartet(["key", "vkey", "--data", data, "--log", "wales"]).stdout.trimmingCharacters(in: .newlines)
        let note = try TestKit.quartet(["checkpoint", "--data", data, "--log", "wales"]).stdout
        let file = dir.appendingPathComponent("note.txt")
        try Data(note.utf8).write(to: file)
        let ok = try TestKit.run(python, [script, vkey, file.path])
        #expect(ok.status == 0 && ok.stdout.hasPrefix("ok quartet.ot-workforce.uk/wales size 3"), "\(ok.stdout)\(ok.stderr)")
        try Data(note.replacingOccurrences(of: "\n3\n", with: "\n2\n").utf8).write(to: file)
        let bad = try TestKit.run(python, [script, vkey, file.path])
        #expect(bad.status == 1 && bad.stdout.contains("does not verify"), "\(bad.stdout)\(bad.stderr)")
    }
}

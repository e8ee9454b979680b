import Foundation
import QuartetHarness
import QuartetTestKit
import Testing

/// The CLI facing a hostile node (a member gone bad, with its real certificate): a node that
/// never answers does not hold a command for ever, and what it says in a refusal reaches the
/// terminal escaped.
@Suite struct HostileNodeTests {
    func hostile(_ files: NodeFiles, mode: String) throws -> ChildProcess {
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files.configPath))) as? [String: Any])
        let tls = try #require(config["tls"] as? [String: Any])
        let python = try #require(TestKit.which("python3"))
        var settings = ChildSettings(executable: python.path, arguments: [
            TestKit.repositoryRoot.appendingPathComponent("Tests/Interop/hostile_api.py").path, "\(files.apiPort)",
            try #require(tls["certificate"] as? String), try #require(tls["key"] as? String), mode])
        settings.standardOutput = .capture()
        let server = try ChildProcess.spawn(settings)
        _ = try server.waitForLine(timeout: .seconds(20)) { $0.hasPrefix("listening") }
        return server
    }

    /// `quartet ARGUMENTS` under `timeout`: a client that hung is killed (status 137) after
    /// `seconds` rather than hang the suite.
    func quartetKilledAfter(_ seconds: Int, _ arguments: [String]) throws -> TestKit.ProcessResult {
        let timeout = try #require(TestKit.which("timeout"))
        return try TestKit.run(timeout, ["-s", "KILL", "\(seconds)", try TestKit.quartetBinary().path] + arguments)
    }

    @Test func aNodeThatNeverAnswersIsGivenUpOn() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let server = try hostile(files, mode: "silent")
        defer { _ = server.stop(signal: SIGKILL, grace: .seconds(2)) }
        let result = try quartetKilledAfter(30, ["view", "--config", files.configPath, "--timeout", "2"])
        #expect(result.status == 1 && result.stderr.contains("did not answer within 2 s"), "\(result.status): \(result.stderr)")
    }

    /// `audit` is bounded as a whole (`--deadline`), not only per request: a node answering
    /// each request just inside `--timeout`, page after page, could hold it for ever. Here each
    /// request would wait 30 s; the audit gives up after 2 (was: no overall bound).
    @Test func anAuditIsBoundedAsAWhole() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let server = try hostile(files, mode: "silent")
        defer { _ = server.stop(signal: SIGKILL, grace: .seconds(2)) }
        let result = try quartetKilledAfter(25, ["audit", "--owner", "HEIW", "--config", files.configPath,
                                               "--timeout", "30", "--deadline", "2"])
        #expect(result.status == 1 && result.stderr.contains("quartet audit: not finished within 2 s (--deadline)"), "\(result.status): \(result.stderr)")
        // verify-figure asking a node too (finding 280's `--whole` reads a log page after page).
        let policy = files.root.appendingPathComponent("wales.policy")
        let vkey = try TestKit.quartet(["key", "vkey", "--data", files.dataPath, "--log", "wales"])
        try #require(vkey.status == 0, "\(vkey.stderr)")
        try Data("log \(vkey.stdout.trimmingCharacters(in: .whitespacesAndNewlines))\nquorum none\n".utf8).write(to: policy)
        let figure = try quartetKilledAfter(25, ["verify-figure", "--policy", policy.path, "--figure", "total:P1.A1.M1:2025",
                                               "--config", files.configPath, "--deadline", "2"])
        #expect(figure.status == 1 && figure.stderr.contains("quartet verify-figure: not finished within 2 s (--deadline)"), "\(figure.status): \(figure.stderr)")
    }

    @Test func aRefusalsTextReachesTheTerminalEscaped() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let server = try hostile(files, mode: "escape")
        defer { _ = server.stop(signal: SIGKILL, grace: .seconds(2)) }
        for command in [["view"], ["agreement", "list"], ["status"]] {
            let result = try TestKit.quartet(command + ["--config", files.configPath])
            #expect(result.status != 0, "\(command)")
            #expect(!result.stderr.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "\(command): a raw escape reached the terminal: \(result.stderr.debugDescription)")
            #expect(result.stderr.contains("\\u{1B}[2J"), "\(command): \(result.stderr.debugDescription)")
        }
    }
}

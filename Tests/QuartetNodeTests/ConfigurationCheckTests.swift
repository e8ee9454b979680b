import Foundation
@testable import QuartetNode
import QuartetTestKit
import Testing

/// `quartet config check`: every problem of a node's files, with the file and key.
@Suite struct ConfigurationCheckTests {
    func errors(_ problems: [ConfigurationCheck.Problem]) -> [String] { problems.filter { $0.severity == .error }.map(\.description) }

    @Test func aGoodConfigurationHasNoErrorsAndWarnsOfASoonExpiringCertificate() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let problems = ConfigurationCheck.run(path: files.configPath, probePorts: true)
        #expect(errors(problems).isEmpty, "\(problems)")
        // The fixture's certificates last 30 days: inside the warning window.
        #expect(problems.contains { $0.severity == .warning && $0.place.hasSuffix("tls.certificate") && $0.message.contains("renew") }, "\(problems)")
        // Checked a year on, both certificates have expired.
        let later = ConfigurationCheck.run(path: files.configPath, now: Date().addingTimeInterval(400 * 86400), probePorts: false)
        #expect(errors(later).contains { $0.contains("tls.certificate: expired on") }, "\(later)")
    }

    @Test func everyProblemIsListedWithItsKey() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        // A key readable by others, a certificate of another node, an unsigned federation file,
        // a data directory open to others: four problems, all reported in one run.
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files.configPath))) as? [String: Any])
        var tls = try #require(config["tls"] as? [String: String])
        tls["certificate"] = files.pki.root.appendingPathComponent("nodes/england/england.pem").path
        config["tls"] = tls
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: files.configPath))
        let key = tls
        chmod(key["key"]!, 0o644)
        try FileManager.default.removeItem(atPath: files.root.appendingPathComponent("federation.json.sig").path)
        chmod(files.dataPath, 0o755)
        let found = errors(ConfigurationCheck.run(path: files.configPath, probePorts: false))
        #expect(found.contains { $0.contains("tls.certificate: names quartet://node/england, expected quartet://node/wales") }, "\(found)")
        #expect(found.contains { $0.contains("tls.key:") && $0.contains("gives every user access") }, "\(found)")
        #expect(found.contains { $0.contains("federation:") && $0.contains("not signed") }, "\(found)")
        #expect(found.contains { $0.contains("data:") && $0.contains("open to other users") }, "\(found)")
    }

    /// A key readable by a group is the node's only when the group is the one the node runs as
    /// (`root:quartet 0640`); another group's members could act as the node (finding 274).
    @Test func aKeyReadableByAGroupOtherThanTheNodesIsRefused() throws {
        let dir = try TestKit.temporaryDirectory("key-group")
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("node.key").path
        try Data("key".utf8).write(to: URL(fileURLWithPath: key))
        chmod(key, 0o640)
        #expect(chown(key, getuid(), getegid()) == 0)
        #expect(TLSContexts.openToOthers(key) == nil, "the node's own group may read it")
        chmod(key, 0o600)
        #expect(TLSContexts.openToOthers(key) == nil)
        chmod(key, 0o604)
        #expect(TLSContexts.openToOthers(key)?.contains("gives every user access") == true)
        // A key whose group is not the node's (the node running under another group than the
        // file's): refused, naming both.
        chmod(key, 0o640)
        let other = getegid() &+ 1
        let refused = TLSContexts.openToOthers(key, group: other)
        #expect(refused?.contains("gives group \(getegid()) access (mode 640), not the node's own group (\(other))") == true, "\(refused ?? "nil")")
        chmod(key, 0o600)
        #expect(TLSContexts.openToOthers(key, group: other) == nil, "no group access, whatever its group")
    }

    /// Run as root (`sudo quartet config check`), a key's group is judged against the node's —
    /// its data directory's group — not root's: `root:quartet 0640` passes, another group does
    /// not (finding 274's review).
    @Test(.enabled(if: geteuid() == 0, "a file's group set to any needs root"))
    func runAsRootAKeysGroupIsJudgedByTheDataDirectorys() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let key = try NodeConfiguration.load(path: files.configPath).privateKey
        let service: gid_t = 4242, other: gid_t = 4343
        #expect(chown(files.dataPath, 0, service) == 0 && chown(key, 0, service) == 0)
        chmod(key, 0o640)
        let taken = errors(ConfigurationCheck.run(path: files.configPath, probePorts: false))
        #expect(!taken.contains { $0.contains("tls.key") }, "\(taken)")
        #expect(chown(key, 0, other) == 0)
        let refused = errors(ConfigurationCheck.run(path: files.configPath, probePorts: false))
        #expect(refused.contains { $0.contains("tls.key") && $0.contains("gives group 4343 access (mode 640), not the node's own group (4242)") }, "\(refused)")
    }

    @Test func aConfigurationThatDoesNotParseNamesItsFirstMistake() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        try #"{"node": "wales", "nope": 1}"#.write(toFile: files.configPath, atomically: true, encoding: .utf8)
        let problems = ConfigurationCheck.run(path: files.configPath, probePorts: false)
        #expect(problems.count == 1 && problems[0].severity == .error, "\(problems)")
    }

    @Test func aPortInUseIsAWarning() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let node = try NodeProcess(config: files.configPath)
        defer { _ = node.stop() }
        let problems = ConfigurationCheck.run(path: files.configPath, probePorts: true)
        #expect(problems.contains { $0.severity == .warning && $0.place.hasSuffix("api.listen") && $0.message.contains("already running") }, "\(problems)")
    }

    @Test func readinessNamesWhatIsMissing() {
        #expect(Readiness.evaluate(storeAnswers: true, peers: [("uk", true), ("england", false)], logs: [("wales", 10, 10)]).isEmpty)
        #expect(Readiness.evaluate(storeAnswers: true, peers: [], logs: []).isEmpty, "a federation of one has no peers to wait for")
        let reasons = Readiness.evaluate(storeAnswers: false, peers: [("uk", false)], logs: [("wales", 0, 20_000), ("uk", 5, 6)])
        #expect(reasons == ["the data directory does not answer", "connected to no other member", "log wales is behind by more than 10000 entries"])
    }
}

import Foundation
import QuartetCrypto
import QuartetHarness
import QuartetReplication
import QuartetTestKit
import Testing

/// The signed federation file on running nodes: refused when unsigned, older or under-signed;
/// reloaded on SIGHUP, cutting a removed member off at once and dialling one added.
@Suite(.serialized) struct FederationReloadTests {
    /// Waits until `condition` holds (polling), up to `timeout`.
    func eventually(_ timeout: TimeInterval = 20, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            usleep(200_000)
        }
        return try condition()
    }

    /// Runs `quartet serve` expecting it to refuse to start (killed after 20 s if it does not).
    func serveRefused(_ config: String) throws -> TestKit.ProcessResult {
        let timeout = try #require(TestKit.which("timeout"))
        return try TestKit.run(timeout, ["20", try TestKit.quartetBinary().path, "serve", "--config", config])
    }

    func connected(_ federation: LocalFederation, at node: String) throws -> Set<String> {
        let peers = try federation.get(node, "/v1/peers")["peers"] as! [[String: Any]]
        return Set(peers.filter { $0["connected"] as? Bool == true }.compactMap { $0["node"] as? String })
    }

    func listed(_ federation: LocalFederation, at node: String) throws -> Set<String> {
        let peers = try federation.get(node, "/v1/peers")["peers"] as! [[String: Any]]
        return Set(peers.compactMap { $0["node"] as? String })
    }

    @Test func aNodeRefusesToStartWithAnUnsignedOrUnderSignedFile() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        let layout = FederationLayout(root: federation.root)
        let signature = layout.federationFile + ".sig"
        let good = try Data(contentsOf: URL(fileURLWithPath: signature))
        try FileManager.default.removeItem(atPath: signature)
        #expect(throws: (any Error).self) { try NodeProcess(config: federation.config("wales"), timeout: 10) }
        let unsigned = try serveRefused(federation.config("wales"))
        #expect(unsigned.status != 0)
        #expect(unsigned.stderr.contains("the federation file is not signed"), "\(unsigned.stderr)")
        // A signature file planted as a symlink (a shared folder others can write) is not
        // written through: the file it points at stays as it was, and the signature is a file
        // of its own (a temporary of a random name, renamed over the link).
        let victim = federation.root.appendingPathComponent("victim.pem")
        try Data("precious\n".utf8).write(to: victim)
        try FileManager.default.createSymbolicLink(atPath: signature, withDestinationPath: victim.path)
        // Two of five signatures are not a quorum.
        let file = try ProvisionedFile.read(FederationFile.self, from: layout.federationFile)
        defer {
            #expect((try? String(contentsOf: victim, encoding: .utf8)) == "precious\n", "the sign wrote through a planted symlink")
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: signature)) == nil, "the signature is a symlink")
        }
        for (i, member) in ["uk", "wales"].enumerated() {
            let signed = try TestKit.quartet(["federation", "sign", "--file", layout.federationFile, "--member", member,
                                              "--data", layout.dataDirectory(member)] + (i == 0 ? ["--fresh"] : []) + (FileManager.default.fileExists(atPath: "\(layout.dataDirectory(member))/federation.accepted.json") ? ["--accepted", "\(layout.dataDirectory(member))/federation.accepted.json"] : ["--no-previous"]))
            #expect(signed.status == 0, "\(signed.stderr)")
        }
        let verify = try TestKit.quartet(["federation", "verify", "--file", layout.federationFile])
        #expect(verify.status == 1 && verify.stderr.contains("signed by uk, wales of its own 5 members; 3 must sign"), "\(verify.stderr)")
        let underSigned = try serveRefused(federation.config("wales"))
        #expect(underSigned.status != 0 && underSigned.stderr.contains("3 must sign"), "\(underSigned.stderr)")
        // With every signature back it starts, and keeps the file as accepted; an older version
        // (even signed by all) is then refused.
        try good.write(to: URL(fileURLWithPath: signature))
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"))
        _ = federation.processes["wales"]!.stop()
        var newer = file
        newer.version = file.version + 1
        try federation.writeSigned(newer, to: layout.federationFile)
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"))
        _ = federation.processes["wales"]!.stop()
        try federation.writeSigned(file, to: layout.federationFile)
        let older = try serveRefused(federation.config("wales"))
        #expect(older.status != 0 && older.stderr.contains("older than version 2 this node has accepted"), "\(older.stderr)")
        // A start refused for its data directory (here: a newer format, as an older binary
        // would meet) keeps nothing of the federation file, however new.
        var third = file
        third.version = file.version + 2
        try federation.writeSigned(third, to: layout.federationFile)
        let database = layout.dataDirectory("wales") + "/quartet.sqlite"
        _ = try TestKit.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute(\"UPDATE meta SET value = '9' WHERE key = 'format_version'\"); db.commit()", database])
        let newerFormat = try serveRefused(federation.config("wales"))
        #expect(newerFormat.status != 0 && newerFormat.stderr.contains("newer quartet"), "\(newerFormat.stderr)")
        let accepted = try ProvisionedFile.read(FederationFile.self, from: layout.dataDirectory("wales") + "/federation.accepted.json")
        #expect(accepted.version == file.version + 1, "a refused start kept version \(accepted.version)")
    }

    /// The certificate the node's API presents now (a fresh handshake).
    func presented(_ files: NodeFiles) throws -> Certificate {
        let out = try TestKit.sClient(["-connect", "127.0.0.1:\(files.apiPort)", "-CAfile", files.pki.caCertificate], input: "", holdOpen: 0.5).stdout
        let begin = try #require(out.range(of: "-----BEGIN CERTIFICATE-----"), "\(out)")
        let end = try #require(out.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<out.endIndex))
        return try Certificate(pem: String(out[begin.lowerBound..<end.upperBound]))
    }

    @Test func sighupPresentsARenewedCertificateWithoutARestart() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let node = try NodeProcess(config: files.configPath)
        defer { _ = node.stop() }
        let before = try presented(files)
        let current = try files.pki.node("wales")
        func install(_ renewal: (certificate: String, key: String)) throws {
            for (from, to) in [(renewal.certificate, current.certificate), (renewal.key, current.key)] {
                try FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
            chmod(current.key, 0o600)
        }
        // A renewal dated from tomorrow is refused at the reload (new handshakes would fail):
        // the node goes on presenting the certificate it has, and says why.
        try install(try files.pki.node("wales", days: 365, notBefore: Date().addingTimeInterval(86_400), label: "early"))
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("reload refused") && node.log.contains("not valid before") }, "\(node.log)")
        #expect(try presented(files).serialHex == before.serialHex, "a renewal not valid yet was put in force")
        // One issued by another CA (every peer would refuse it) is refused the same way.
        let stranger = try TestPKI()
        defer { stranger.remove() }
        try install(try stranger.node("wales", days: 365, label: "stranger"))
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("not issued by the CA in tls.ca") }, "\(node.log)")
        #expect(try presented(files).serialHex == before.serialHex, "a certificate of another CA was put in force")
        // Renewal: a new key and certificate (a year this time) put where the configuration points.
        try install(try files.pki.node("wales", days: 365, label: "renewed"))
        #expect(try presented(files).serialHex == before.serialHex, "nothing changes before the reload")
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("reload done") }, "\(node.log)")
        let after = try presented(files)
        #expect(after.serialHex != before.serialHex)
        #expect(after.notAfter > before.notAfter.addingTimeInterval(300 * 86400))
        // A renewal in files of its own, the configuration pointed at them: the reload takes
        // the paths the configuration names now (it kept the paths it started with, and said
        // "reload done" while the old certificate stayed until it expired).
        let moved = try files.pki.node("wales", days: 200, label: "moved")
        chmod(moved.key, 0o600)
        var configuration = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files.configPath))) as? [String: Any])
        var tls = try #require(configuration["tls"] as? [String: Any])
        tls["certificate"] = moved.certificate
        tls["key"] = moved.key
        configuration["tls"] = tls
        try JSONSerialization.data(withJSONObject: configuration).write(to: URL(fileURLWithPath: files.configPath))
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.components(separatedBy: "reload done").count == 3 }, "\(node.log)")
        let movedCertificate = try Certificate(pem: String(contentsOfFile: moved.certificate, encoding: .utf8))
        #expect(try presented(files).serialHex == movedCertificate.serialHex, "the certificate the configuration now names is not presented")
        #expect(node.child.isRunning)
    }

    @Test func aCAReplacedAtALaterReloadClosesConnectionsMadeBeforeEveryEarlierReload() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let node = try NodeProcess(config: files.configPath)
        defer { _ = node.stop() }
        // england's certificate (the old CA's) on a kept-alive API connection, one request made.
        let client = try Self.healthzClient(files, as: "england")
        defer { _ = client.stop(signal: SIGKILL) }
        _ = try client.waitForLine(timeout: .seconds(10)) { $0.hasPrefix("HTTP/1.1 200") }
        // A reload that changes nothing TLS-wise makes a new set of contexts: the connection
        // stays, verified by the set before it.
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.components(separatedBy: "reload done").count == 2 }, "\(node.log)")
        Thread.sleep(forTimeInterval: 0.5)
        #expect(client.isRunning, "a reload with the same CA closed a connection it verified")
        // Then the CA is replaced (a new CA and the node's certificate from it): the connection
        // the old CA vouched for, made two sets of contexts ago, is closed.
        let replacement = try TestPKI()
        defer { replacement.remove() }
        let renewed = try replacement.node("wales", days: 365)
        let current = try files.pki.node("wales")
        for (from, to) in [(renewed.certificate, current.certificate), (renewed.key, current.key), (replacement.caCertificate, files.pki.caCertificate)] {
            try FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
        chmod(current.key, 0o600)
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("the CA or the revocation list changed") }, "\(node.log)")
        #expect(eventually(10) { !client.isRunning }, "a connection the replaced CA vouched for stayed open")
    }

    /// `openssl s_client` to the node's API with `member`'s certificate, kept alive, one
    /// `GET /healthz` sent.
    static func healthzClient(_ files: NodeFiles, as member: String) throws -> ChildProcess {
        let openssl = try #require(TestKit.which("openssl"))
        let pair = try files.pki.node(member)
        var settings = ChildSettings(executable: openssl.path, arguments: [
            "s_client", "-connect", "127.0.0.1:\(files.apiPort)", "-CAfile", files.pki.caCertificate,
            "-cert", pair.certificate, "-key", pair.key, "-quiet",
        ])
        settings.standardInput = .pipe
        settings.standardOutput = .capture()
        settings.standardError = .capture()
        let client = try ChildProcess.spawn(settings)
        client.write(Array("GET /healthz HTTP/1.1\r\nHost: wales\r\n\r\n".utf8))
        return client
    }

    /// A member's certificate revoked (`pki revoke`, the list given as `tls.crl`, a reload):
    /// its connection open since before is closed, a new handshake with it is refused, and
    /// another member's certificate still connects.
    @Test func aCertificateRevokedAtAReloadIsCutOffAndRefused() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let node = try NodeProcess(config: files.configPath)
        defer { _ = node.stop() }
        func connect(_ node: String) throws -> ChildProcess { try Self.healthzClient(files, as: node) }
        let england = try connect("england")
        defer { _ = england.stop(signal: SIGKILL) }
        _ = try england.waitForLine(timeout: .seconds(10)) { $0.hasPrefix("HTTP/1.1 200") }
        // The CA revokes england's certificate; the node is given the list and reloaded.
        let revoked = try TestKit.quartet(["pki", "revoke", "--ca", files.pki.root.appendingPathComponent("ca").path, "--new-list", try files.pki.node("england").certificate])
        #expect(revoked.status == 0 && revoked.stdout.contains("revoked:"), "\(revoked.stdout)\(revoked.stderr)")
        var config = try ProvisionedFile.read(NodeConfigurationFile.self, from: files.configPath)
        config.tls.crl = files.pki.root.appendingPathComponent("ca/crl.pem").path
        try ProvisionedFile.write(config, to: files.configPath)
        #expect(try TestKit.quartet(["config", "check", "--config", files.configPath]).status == 0)
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("the CA or the revocation list changed") }, "\(node.log)")
        #expect(eventually(10) { !england.isRunning }, "the revoked certificate's connection stayed open")
        // A new handshake with it is refused; another member's certificate connects.
        let again = try connect("england")
        defer { _ = again.stop(signal: SIGKILL) }
        #expect((try? again.waitForLine(timeout: .seconds(5)) { $0.hasPrefix("HTTP/1.1 200") }) == nil, "a revoked certificate was served")
        let uk = try connect("uk")
        defer { _ = uk.stop(signal: SIGKILL) }
        _ = try uk.waitForLine(timeout: .seconds(10)) { $0.hasPrefix("HTTP/1.1 200") }
        // A reload with the same list closes nothing (only a changed CA or list does).
        let reloads = node.log.components(separatedBy: "reload done").count
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.components(separatedBy: "reload done").count > reloads }, "\(node.log)")
        // The same connection still answers after the reload (a path no route has: a 404, a
        // line its first answer did not print), not a sleep that a slow close outlasts.
        uk.write(Array("GET /no-such-path HTTP/1.1\r\nHost: wales\r\n\r\n".utf8))
        #expect((try? uk.waitForLine(timeout: .seconds(10)) { $0.hasPrefix("HTTP/1.1 404") }) != nil,
                "a reload with an unchanged revocation list closed a connection it verified")
        // tls.crl taken out: england's revocation is taken back, and the reload says so (the
        // serial named); put back, nothing is said.
        let serial = try Certificate(pem: String(contentsOfFile: try files.pki.node("england").certificate, encoding: .utf8)).serialHex
        config.tls.crl = nil
        try ProvisionedFile.write(config, to: files.configPath)
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("REVOCATIONS TAKEN BACK") }, "\(node.log)")
        #expect(node.log.contains(serial) && node.log.contains("no longer revoked"), "\(node.log)")
        config.tls.crl = files.pki.root.appendingPathComponent("ca/crl.pem").path
        try ProvisionedFile.write(config, to: files.configPath)
        let reloadsBefore = node.log.components(separatedBy: "reload done").count
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.components(separatedBy: "reload done").count > reloadsBefore }, "\(node.log)")
        #expect(node.log.components(separatedBy: "REVOCATIONS TAKEN BACK").count == 2, "\(node.log)")
        // The node's own certificate revoked: `config check` says so, and a reload is refused.
        let own = try TestKit.quartet(["pki", "revoke", "--ca", files.pki.root.appendingPathComponent("ca").path, try files.pki.node("wales").certificate])
        #expect(own.status == 0)
        let check = try TestKit.quartet(["config", "check", "--config", files.configPath])
        #expect(check.status != 0 && (check.stdout + check.stderr).contains("the list revokes it"), "\(check.stdout)\(check.stderr)")
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("the list revokes it") && node.log.contains("is NOT in force") }, "\(node.log)")
        #expect(node.child.isRunning)
    }

    /// Finding 285: a revocation list that only adds revocations is put in force even when the
    /// federation file brought in the same reload is refused (not signed by a quorum yet): a
    /// stolen certificate does not outlive the members' signing.
    @Test func aRevocationListTakesEffectWhenTheFederationFileIsRefused() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let node = try NodeProcess(config: files.configPath)
        defer { _ = node.stop() }
        let england = try Self.healthzClient(files, as: "england")
        defer { _ = england.stop(signal: SIGKILL) }
        _ = try england.waitForLine(timeout: .seconds(10)) { $0.hasPrefix("HTTP/1.1 200") }
        // A newer federation file its signatures do not cover, and a list revoking england.
        let path = files.root.appendingPathComponent("federation.json").path
        var newer = try ProvisionedFile.read(FederationFile.self, from: path)
        newer.version += 1
        try ProvisionedFile.write(newer, to: path)
        // (A copy of the CA from before, for a list that takes england's revocation back.)
        let caCopy = files.root.appendingPathComponent("ca-before").path
        #expect(try TestKit.run(URL(fileURLWithPath: "/bin/cp"), ["-a", files.pki.root.appendingPathComponent("ca").path, caCopy]).status == 0)
        let revoked = try TestKit.quartet(["pki", "revoke", "--ca", files.pki.root.appendingPathComponent("ca").path, "--new-list", try files.pki.node("england").certificate])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        var config = try ProvisionedFile.read(NodeConfigurationFile.self, from: files.configPath)
        config.tls.crl = files.pki.root.appendingPathComponent("ca/crl.pem").path
        try ProvisionedFile.write(config, to: files.configPath)
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("reload refused") }, "\(node.log)")
        #expect(node.log.contains("IS in force (it only adds revocations)"), "\(node.log)")
        #expect(eventually(10) { !england.isRunning }, "the revoked certificate's connection stayed open")
        let again = try Self.healthzClient(files, as: "england")
        defer { _ = again.stop(signal: SIGKILL) }
        #expect((try? again.waitForLine(timeout: .seconds(5)) { $0.hasPrefix("HTTP/1.1 200") }) == nil, "a revoked certificate was served")
        let uk = try Self.healthzClient(files, as: "uk")
        defer { _ = uk.stop(signal: SIGKILL) }
        _ = try uk.waitForLine(timeout: .seconds(10)) { $0.hasPrefix("HTTP/1.1 200") }
        // The federation file stays the one accepted before.
        let accepted = try ProvisionedFile.read(FederationFile.self, from: files.dataPath + "/federation.accepted.json")
        #expect(accepted.version == newer.version - 1)
        // A list that takes england's revocation back (it revokes uk alone) waits for a reload
        // that is accepted: said, and england is still refused, uk still served.
        let other = try TestKit.quartet(["pki", "revoke", "--ca", caCopy, "--new-list", try files.pki.node("uk").certificate])
        #expect(other.status == 0, "\(other.stderr)")
        config.tls.crl = caCopy + "/crl.pem"
        try ProvisionedFile.write(config, to: files.configPath)
        let refusals = node.log.components(separatedBy: "reload refused").count
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.components(separatedBy: "reload refused").count > refusals }, "\(node.log)")
        #expect(node.log.contains("is NOT in force"), "\(node.log)")
        let stillRevoked = try Self.healthzClient(files, as: "england")
        defer { _ = stillRevoked.stop(signal: SIGKILL) }
        #expect((try? stillRevoked.waitForLine(timeout: .seconds(5)) { $0.hasPrefix("HTTP/1.1 200") }) == nil, "a list taking a revocation back was put in force by a refused reload")
        let ukAgain = try Self.healthzClient(files, as: "uk")
        defer { _ = ukAgain.stop(signal: SIGKILL) }
        _ = try ukAgain.waitForLine(timeout: .seconds(10)) { $0.hasPrefix("HTTP/1.1 200") }
    }

    /// A restart with `tls.crl` taken out (or an older list) takes revocations back as a reload
    /// would: said at the start, against what was in force when the node last ran.
    @Test func aRestartThatTakesARevocationBackSaysSo() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        #expect(try TestKit.quartet(["pki", "revoke", "--ca", files.pki.root.appendingPathComponent("ca").path, "--new-list", try files.pki.node("england").certificate]).status == 0)
        var config = try ProvisionedFile.read(NodeConfigurationFile.self, from: files.configPath)
        config.tls.crl = files.pki.root.appendingPathComponent("ca/crl.pem").path
        try ProvisionedFile.write(config, to: files.configPath)
        var node = try NodeProcess(config: files.configPath)
        _ = node.stop()
        #expect(!node.log.contains("no longer revoked"), "\(node.log)")
        config.tls.crl = nil
        try ProvisionedFile.write(config, to: files.configPath)
        node = try NodeProcess(config: files.configPath)
        defer { _ = node.stop() }
        let serial = try Certificate(pem: String(contentsOfFile: try files.pki.node("england").certificate, encoding: .utf8)).serialHex
        #expect(eventually { node.log.contains("no longer revoked") }, "\(node.log)")
        #expect(node.log.contains(serial), "\(node.log)")
    }

    @Test func aMemberBackUnderAnotherKeyIsRefusedAtReloadAndNothingChanges() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        let node = try NodeProcess(config: files.configPath)
        defer { _ = node.stop() }
        let path = files.root.appendingPathComponent("federation.json").path
        let original = try ProvisionedFile.read(FederationFile.self, from: path)
        func publish(_ file: FederationFile, signers: [(String, String)]) throws {
            try ProvisionedFile.write(file, to: path)
            for (i, (member, data)) in signers.enumerated() {
                let signed = try TestKit.quartet(["federation", "sign", "--file", path, "--member", member, "--data", data] + (i == 0 ? ["--fresh"] : []) + (FileManager.default.fileExists(atPath: "\(data)/federation.accepted.json") ? ["--accepted", "\(data)/federation.accepted.json"] : ["--no-previous"]))
                #expect(signed.status == 0, "\(signed.stderr)")
            }
        }
        let signers = [("wales", files.dataPath), ("uk", files.root.appendingPathComponent("other-uk").path)]
        var without = original
        without.version = 2
        without.nodes.removeAll { $0.id == "england" }
        try publish(without, signers: signers)
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("reload done") }, "\(node.log)")
        // England back, but its log under a key this node never held it with.
        let impostor = files.root.appendingPathComponent("impostor").path
        #expect(try TestKit.quartet(["init", "--log", "england", "--data", impostor]).status == 0)
        let vkey = try TestKit.quartet(["key", "vkey", "--data", impostor, "--log", "england"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var back = original
        back.version = 3
        back.nodes[back.nodes.firstIndex { $0.id == "england" }!].vkey = vkey
        try publish(back, signers: signers)
        node.child.signal(SIGHUP)
        #expect(eventually { node.log.contains("reload refused") }, "\(node.log)")
        // (Refused as an id accepted before under another key, finding 243, before the held log's
        // key is compared.)
        #expect(node.log.contains("accepted a member under that id before") && node.log.contains("give the new member another id"), "\(node.log)")
        // Nothing changed: the accepted file is still version 2.
        let accepted = try ProvisionedFile.read(FederationFile.self, from: files.dataPath + "/federation.accepted.json")
        #expect(accepted.version == 2)
        #expect(node.child.isRunning)
    }

    @Test func sighupCutsARemovedMemberOffAndDialsOneAddedBack() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start()
        _ = try federation.waitConverged(LocalFederation.all)
        #expect(try eventually { try connected(federation, at: "uk").contains("england") })
        // uk's log is witnessed by england (so england has series in uk's /metrics).
        try federation.append("uk", #"{"before":"removal"}"#)
        try federation.append("england", #"{"before":"removal"}"#)
        #expect(try eventually { try federation.size(federation.heads("uk"), "england") > 0 })
        func ukMetrics() throws -> String {
            try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("uk"))/metrics"]).body
        }
        #expect(try eventually { try ukMetrics().contains(#"quartet_witness_behind_entries{witness="england"}"#) })
        let layout = FederationLayout(root: federation.root)
        let original = try ProvisionedFile.read(FederationFile.self, from: layout.federationFile)
        let others = LocalFederation.all.filter { $0 != "england" }
        func reload(_ nodes: [String]) { for node in nodes { federation.processes[node]!.child.signal(SIGHUP) } }

        // Version 2 without england, signed by three of the five (england does not consent).
        var without = original
        without.version = 2
        without.nodes.removeAll { $0.id == "england" }
        try ProvisionedFile.write(without, to: layout.federationFile)
        for (i, member) in ["uk", "wales", "scotland"].enumerated() {
            let signed = try TestKit.quartet(["federation", "sign", "--file", layout.federationFile, "--member", member,
                                              "--data", layout.dataDirectory(member)] + (i == 0 ? ["--fresh"] : []) + (FileManager.default.fileExists(atPath: "\(layout.dataDirectory(member))/federation.accepted.json") ? ["--accepted", "\(layout.dataDirectory(member))/federation.accepted.json"] : ["--no-previous"]))
            #expect(signed.status == 0, "\(signed.stderr)")
        }
        reload(others)
        #expect(try eventually { try others.allSatisfy { !(try listed(federation, at: $0)).contains("england") } })
        #expect(try connected(federation, at: "uk") == Set(others).subtracting(["uk"]))
        #expect(federation.processes["uk"]!.log.contains("reload done"), "\(federation.processes["uk"]!.log)")
        // England's node certificate no longer reads the API.
        let englandPKI = layout.nodePKIDirectory("england")
        let refused = try federation.curl(["--cert", "\(englandPKI)/england.pem", "--key", "\(englandPKI)/england.key", "\(federation.api("uk"))/v1/logs"])
        #expect(refused.status == 403, "\(refused.body)")
        // Appends at wales still reach the others; england stays behind.
        let index = try federation.append("wales", #"{"after":"removal"}"#)
        _ = try federation.waitConverged(others) { federation.size($0, "wales") == Int(index) + 1 }
        #expect(try federation.size(federation.heads("england"), "wales") <= Int(index))
        // The metric says which version is in force.
        let metrics = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("uk"))/metrics"])
        #expect(metrics.body.contains("quartet_federation_version 2"), "\(metrics.body.prefix(400))")
        // The removed member's witness series are gone, not frozen at their last values.
        #expect(!metrics.body.contains(#"witness="england""#), "\(metrics.body)")
        #expect(!metrics.body.contains(#"quartet_peer_connected{peer="england"}"#) && metrics.body.contains(#"quartet_peer_connected{peer="wales"}"#), "\(metrics.body)")
        #expect(!metrics.body.contains(#"quartet_peer_log_behind_entries{peer="england""#), "\(metrics.body)")
        // Its log is still held, but it is no nation of the combined view: it counts in no UK
        // figure (finding 234).
        func viewLogs() throws -> [String] { (try federation.get("uk", "/v1/view")["logs"] as? [[String: Any]] ?? []).compactMap { $0["log"] as? String } }
        let logsInView = try viewLogs()
        #expect(!logsInView.contains("england") && logsInView.contains("wales"), "\(logsInView)")
        #expect(try federation.size(federation.heads("uk"), "england") > 0, "the removed member's log was dropped")
        #expect(metrics.body.contains(#"quartet_witness_behind_entries{witness="wales"}"#))

        // An unsigned version 3 is refused at reload; version 2 stays in force.
        var unsigned = original
        unsigned.version = 3
        try ProvisionedFile.write(unsigned, to: layout.federationFile)
        try FileManager.default.removeItem(atPath: layout.federationFile + ".sig")
        reload(["uk"])
        #expect(eventually { federation.processes["uk"]!.log.contains("reload refused") })
        #expect(!(try listed(federation, at: "uk")).contains("england"))

        // Version 3 with england again, signed by a quorum of version 2's four members: england
        // is dialled and catches up.
        try federation.writeSigned(unsigned, to: layout.federationFile)
        reload(others)
        #expect(try eventually(30) { try connected(federation, at: "uk").contains("england") })
        _ = try federation.waitConverged(LocalFederation.all) { federation.size($0, "wales") == Int(index) + 1 }
        #expect(try viewLogs().contains("england"), "a member listed again is a nation of the view again")
    }

    /// A node left on an older federation file (not reloaded, or restored with its host from
    /// before a change) hears from its peers, at their reload, the statement of the file they
    /// run, signed by a quorum of the members it knows: it says so (an alert) at the first, and
    /// once most of the other members run the newer file it is not ready until it does too.
    @Test func aNodeLeftOnAnOlderFederationFileIsToldAndNotReady() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start()
        _ = try federation.waitConverged(LocalFederation.all)
        func ready(_ node: String) throws -> (Bool, String) {
            let (body, status) = try federation.curl(["\(federation.api(node))/readyz"])
            return (status == 200, body)
        }
        func alerted(_ node: String) throws -> [String] {
            (try federation.get(node, "/v1/alerts")["alerts"] as! [[String: Any]]).filter { $0["kind"] as? String == "federation-file" }.compactMap { $0["message"] as? String }
        }
        #expect(try eventually { try ready("scotland").0 })
        let layout = FederationLayout(root: federation.root)
        var newer = try ProvisionedFile.read(FederationFile.self, from: layout.federationFile)
        newer.version += 1
        try federation.writeSigned(newer, to: layout.federationFile)
        // The first node of a rollout reloads: scotland is told, and stays ready.
        federation.processes["uk"]!.child.signal(SIGHUP)
        #expect(try eventually { try alerted("scotland").contains { $0.contains("uk runs version \(newer.version)") } }, "\((try? alerted("scotland")) ?? [])")
        #expect(try ready("scotland").0, "\((try? ready("scotland"))?.1 ?? "")")
        // The rest but scotland: most of its peers now run the newer file.
        let others = LocalFederation.all.filter { $0 != "scotland" }
        for node in others where node != "uk" { federation.processes[node]!.child.signal(SIGHUP) }
        #expect(eventually { (try? ready("scotland"))?.1.contains("other members run a newer federation file than this node") == true },
                "\((try? ready("scotland"))?.1 ?? "")")
        // The others run the newer file, and are ready; none alerts of scotland's older one
        // (those reloaded after uk were told of uk's, as scotland was).
        for node in others {
            #expect(try eventually { try ready(node).0 }, "\(node): \((try? ready(node))?.1 ?? "")")
            #expect(try !alerted(node).contains { $0.hasPrefix("scotland ") }, "\(node): \((try? alerted(node)) ?? [])")
        }
        #expect(try alerted("uk").isEmpty, "\((try? alerted("uk")) ?? [])")
        // Reloaded, scotland runs it too and is ready again.
        federation.processes["scotland"]!.child.signal(SIGHUP)
        #expect(try eventually { try ready("scotland").0 }, "\((try? ready("scotland"))?.1 ?? "")")
    }

    /// A node left on an older federation file while its peers run a newer one a quorum signed
    /// judges recipients by the members of then (restored with its host, it would serve a
    /// member removed since every row agreements name it for): it discloses no restricted
    /// payload, as writer or relay, until it runs the current file (finding 239).
    @Test func aNodeOnAnOlderFederationFileDisclosesNothingUntilReloaded() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start()
        _ = try federation.waitConverged(LocalFederation.all)
        let layout = FederationLayout(root: federation.root)
        var newer = try ProvisionedFile.read(FederationFile.self, from: layout.federationFile)
        newer.version += 1
        try federation.writeSigned(newer, to: layout.federationFile)
        for node in LocalFederation.all where node != "scotland" { federation.processes[node]!.child.signal(SIGHUP) }
        #expect(try eventually {
            (try federation.get("scotland", "/v1/alerts")["alerts"] as! [[String: Any]]).filter { $0["kind"] as? String == "federation-file" }.count >= 3
        })
        let marker = "STALE-FILE-\(UUID().uuidString)"
        let index = try AttackTests.agreementAndRow(federation, id: "NHS-SCOTLAND-STALE", marker: marker)
        // uk, the agreement's full recipient, gets nothing of the row from scotland (nor from a
        // relay: none holds it) while scotland runs the older file.
        sleep(3)
        #expect(federation.size(try federation.heads("uk"), "scotland") <= index, "scotland disclosed the row while on an older file")
        #expect(try !RestrictedDataTests().onDisk(marker, under: federation.path("uk", "data")))
        // Reloaded, it runs the current file and the row goes.
        federation.processes["scotland"]!.child.signal(SIGHUP)
        _ = try federation.waitConverged(["uk", "scotland"]) { federation.size($0, "scotland") > index }
        federation.stop()
        #expect(try RestrictedDataTests().onDisk(marker, under: federation.path("uk", "data")), "uk holds the row in full once scotland reloaded")
    }

    /// A node starting discloses nothing in full until as many of its log's witnesses as must
    /// answer have (each one's statement of its federation file judged first): restored with
    /// an older file, it could not yet know its peers run a newer one, and a member removed
    /// since (its certificate still chaining) asking first got every row agreements named it
    /// for. Here scotland restarts with no peer up but one, the recipient, which states
    /// scotland's own file, sends its heads and asks for the log from the row: `unavailable`,
    /// not the row (two members must have stated the file, `--peer-answers`).
    @Test func aStartingNodeDisclosesNothingBeforeItsWitnessesAnswer() async throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "scotland"], onePeerAnswers: true)
        let marker = "EARLY-\(UUID().uuidString)"
        let index = try AttackTests.agreementAndRow(federation, id: "NHS-SCOTLAND-EARLY", marker: marker)
        _ = try federation.waitConverged(["uk", "scotland"]) { federation.size($0, "scotland") > index }
        federation.stop()
        try federation.start(["scotland"])
        // It states scotland's own file and sends its heads, as a member removed since would
        // (it holds that file): one member's word, where two must answer.
        let statement = try String(contentsOfFile: federation.path("scotland", "data") + "/federation.accepted.json.sig", encoding: .utf8)
        let answer = try await Self.asksScotland(federation, as: "uk", stating: statement, from: UInt64(index))
        guard case .unavailable = answer else {
            Issue.record("scotland served its log before its witnesses answered: \(answer)")
            return
        }
    }

    /// A node on an older file that one member has told of a newer one (not yet two: one
    /// member's word does not stop its flows) still discloses nothing to a member the newer
    /// file removed, which states the older file: it takes its file as current only once as
    /// many members as must answer have stated that very file, and the removed member is one.
    @Test func oneRemovedMembersWordDoesNotConfirmAnOlderFile() async throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["scotland", "england"], onlyCopy: true)
        let marker = "REMOVED-\(UUID().uuidString)"
        let agreement = try federation.signAgreement(id: "NHS-SCOTLAND-REMOVED", owner: "NHS-SCOTLAND", holder: "scotland", label: AttackTests.scotlandLabel, recipients: ["wales=full"])
        #expect(try federation.establishAgreement(agreement, at: "scotland").status == 0)
        let rows = try federation.recordRows(["rows": [["board": "Fife", "count": 12, "note": marker]]], label: AttackTests.scotlandLabel, at: "scotland")
        let index = try #require(LocalFederation.index(rows), "\(rows)")
        let layout = FederationLayout(root: federation.root)
        var without = try ProvisionedFile.read(FederationFile.self, from: layout.federationFile)
        let older = try String(contentsOfFile: federation.path("scotland", "data") + "/federation.accepted.json.sig", encoding: .utf8)
        without.version += 1
        without.nodes.removeAll { $0.id == "wales" }
        try federation.writeSigned(without, to: layout.federationFile)
        federation.processes["england"]!.child.signal(SIGHUP)
        #expect(try eventually {
            (try federation.get("scotland", "/v1/alerts")["alerts"] as! [[String: Any]]).contains { $0["kind"] as? String == "federation-file" }
        }, "\(federation.processes["england"]!.log.suffix(3000))")
        let answer = try await Self.asksScotland(federation, as: "wales", stating: older, from: UInt64(index))
        guard case .unavailable = answer else {
            Issue.record("scotland served the removed member on its word: \(answer)")
            return
        }
    }

    /// A member (`node`) connecting to scotland's peer port, stating `statement` as its
    /// federation file, sending its heads and asking for scotland's log from `from`: scotland's
    /// answer (`unavailable`, or the entries).
    static func asksScotland(_ federation: LocalFederation, as node: String, stating statement: String, from: UInt64) async throws -> Message {
        let peer = try await FakePeer(as: node, to: "scotland", port: AttackTests.peerPort(federation, "scotland"), federation: federation,
                                      hello: .hello(version: ProtocolLimits.version, node: node, federation: "uk-ot-workforce"))
        defer { peer.close() }
        _ = try peer.wait(timeout: 45) { if case .heads = $0 { return true }; return false }
        peer.send(.federation(statement: statement))
        peer.send(.heads([]))
        peer.send(.request(log: "scotland", from: from))
        return try peer.wait(timeout: 20) { message in
            switch message {
            case .unavailable(log: "scotland", _), .entries: return true
            default: return false
            }
        }
    }

    /// Writes `file` to `path` and signs it as `signers` (member, data directory) do.
    func publish(_ file: FederationFile, to path: String, signers: [(String, String)]) throws {
        try ProvisionedFile.write(file, to: path)
        for (i, (member, data)) in signers.enumerated() {
            let accepted = "\(data)/federation.accepted.json"
            let signed = try TestKit.quartet(["federation", "sign", "--file", path, "--member", member, "--data", data] + (i == 0 ? ["--fresh"] : [])
                                             + (FileManager.default.fileExists(atPath: accepted) ? ["--accepted", accepted] : ["--no-previous"]))
            #expect(signed.status == 0, "\(signed.stderr)")
        }
    }

    /// Finding 109's file: version `version` of `original` without england, with a new member
    /// `wales2` whose log key is named england's origin (a log every node holds). A quorum may
    /// sign it; the store refuses a second log of one origin.
    func takingEnglandsOrigin(_ original: FederationFile, version: Int, scratch: URL) throws -> FederationFile {
        let impostor = scratch.appendingPathComponent("impostor-\(version)").path
        #expect(try TestKit.quartet(["init", "--log", "england", "--data", impostor]).status == 0)
        let vkey = try TestKit.quartet(["key", "vkey", "--data", impostor, "--log", "england"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let england = try #require(original.nodes.first { $0.id == "england" })
        let origin = String(england.vkey.prefix { $0 != "+" })
        #expect(vkey.hasPrefix(origin + "+") && vkey != england.vkey, "\(vkey) is not another key named \(origin)")
        var file = original
        file.version = version
        file.nodes.removeAll { $0.id == "england" }
        file.nodes.append(FederationFile.Node(id: "wales2", role: .nation, peer: "127.0.0.1:\(try TestKit.freePort())",
                                              api: "https://127.0.0.1:\(try TestKit.freePort())", log: "wales2", vkey: vkey))
        return file
    }

    /// A reload of a quorum-signed file that removes england and adds a member under the origin
    /// of a log held is refused before anything changes: the accepted file keeps its bytes, the
    /// version in force stays, england stays listed and connected, and its certificate still
    /// reads the API. A file that is admissible is then taken whole, england cut off at once.
    @Test func aReloadRefusedForAHeldOriginChangesNothing() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start()
        _ = try federation.waitConverged(LocalFederation.all)
        #expect(try eventually { try connected(federation, at: "uk").contains("england") })
        let layout = FederationLayout(root: federation.root)
        let original = try ProvisionedFile.read(FederationFile.self, from: layout.federationFile)
        let accepted = layout.dataDirectory("uk") + "/federation.accepted.json"
        let acceptedBefore = try Data(contentsOf: URL(fileURLWithPath: accepted))
        let signatureBefore = try Data(contentsOf: URL(fileURLWithPath: accepted + ".sig"))
        let connectedBefore = try connected(federation, at: "uk")
        let signers = ["uk", "wales", "scotland"].map { ($0, layout.dataDirectory($0)) }
        let uk = federation.processes["uk"]!
        /// The version in force at uk (`live.federation`), as /metrics says it.
        func version() throws -> Double? {
            let metrics = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("uk"))/metrics"]).body
            return metrics.split(separator: "\n").first { $0.hasPrefix("quartet_federation_version ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        #expect(try version() == 1)

        try publish(try takingEnglandsOrigin(original, version: 2, scratch: federation.root), to: layout.federationFile, signers: signers)
        let verified = try TestKit.quartet(["federation", "verify", "--file", layout.federationFile, "--accepted", accepted])
        #expect(verified.status == 0, "a quorum did not sign it: \(verified.stderr)")
        // Checked against the node's data directory, the operator is told before a reload.
        let againstUK = try TestKit.quartet(["federation", "verify", "--file", layout.federationFile, "--accepted", accepted, "--config", layout.configFile("uk")])
        #expect(againstUK.status == 1 && againstUK.stderr.contains("node uk would refuse it") && againstUK.stderr.contains("log england, which this node holds"),
                "\(againstUK.stderr)")
        uk.child.signal(SIGHUP)
        #expect(eventually { uk.log.contains("reload refused") }, "\(uk.log)")
        #expect(uk.log.contains("member wales2's log wales2 would sign as") && uk.log.contains("log england, which this node holds"), "\(uk.log)")
        #expect(!uk.log.contains("closing the connection of a member removed"), "\(uk.log)")
        // Nothing changed: the accepted file, the version in force (`live`), the members
        // listed and connected.
        #expect(try Data(contentsOf: URL(fileURLWithPath: accepted)) == acceptedBefore, "the refused file was kept as accepted")
        #expect(try Data(contentsOf: URL(fileURLWithPath: accepted + ".sig")) == signatureBefore)
        #expect(try version() == 1)
        let listedNow = try listed(federation, at: "uk")
        #expect(listedNow.contains("england") && !listedNow.contains("wales2"), "\(listedNow)")
        usleep(2_000_000)
        #expect(try connected(federation, at: "uk") == connectedBefore)
        let englandPKI = layout.nodePKIDirectory("england")
        let reads = try federation.curl(["--cert", "\(englandPKI)/england.pem", "--key", "\(englandPKI)/england.key", "\(federation.api("uk"))/v1/logs"])
        #expect(reads.status == 200, "england's certificate was refused after a refused reload: \(reads.body)")
        #expect(uk.child.isRunning)

        // The same change without the new member is taken whole: england is cut off.
        var without = original
        without.version = 2
        without.nodes.removeAll { $0.id == "england" }
        try publish(without, to: layout.federationFile, signers: signers)
        uk.child.signal(SIGHUP)
        #expect(eventually { uk.log.contains("reload done") }, "\(uk.log)")
        #expect(try eventually { try !connected(federation, at: "uk").contains("england") && !listed(federation, at: "uk").contains("england") })
        #expect(try version() == 2)
        #expect(try Data(contentsOf: URL(fileURLWithPath: accepted)) == Data(contentsOf: URL(fileURLWithPath: layout.federationFile)))
    }

    /// A start with that file is refused before the file is kept: federation.accepted.json keeps
    /// its bytes, and the node starts again with the file it accepted before (it was not made
    /// "older than accepted").
    @Test func aStartRefusedForAHeldOriginKeepsTheAcceptedFile() throws {
        let files = try NodeFiles()
        defer { files.remove() }
        // A first start accepts version 1 and registers england's log here as a replica.
        let first = try NodeProcess(config: files.configPath)
        _ = first.stop()
        let path = files.root.appendingPathComponent("federation.json").path
        let accepted = files.dataPath + "/federation.accepted.json"
        let original = try ProvisionedFile.read(FederationFile.self, from: path)
        let v1 = try Data(contentsOf: URL(fileURLWithPath: path)), v1Signature = try Data(contentsOf: URL(fileURLWithPath: path + ".sig"))
        let acceptedBefore = try Data(contentsOf: URL(fileURLWithPath: accepted))
        #expect(acceptedBefore == v1)
        let signers = [("wales", files.dataPath), ("uk", files.root.appendingPathComponent("other-uk").path)]
        try publish(try takingEnglandsOrigin(original, version: 2, scratch: files.root), to: path, signers: signers)
        let refused = try serveRefused(files.configPath)
        #expect(refused.status != 0 && refused.stderr.contains("member wales2's log wales2 would sign as"), "\(refused.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: accepted)) == acceptedBefore, "a refused start kept the file as accepted")
        // Back to version 1: it starts.
        try v1.write(to: URL(fileURLWithPath: path))
        try v1Signature.write(to: URL(fileURLWithPath: path + ".sig"))
        let again = try NodeProcess(config: files.configPath)
        #expect(again.child.isRunning)
        #expect(again.stop() == 0)
    }
}

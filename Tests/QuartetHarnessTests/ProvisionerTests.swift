import Foundation
import QuartetCrypto
import QuartetHarness
import QuartetLedger
import QuartetNode
import QuartetTestKit
import Testing

/// What the harness writes, read back through the node's own readers (`NodeConfiguration`,
/// `Federation`), so a key renamed on either side fails here.
@Suite struct ProvisionerTests {
    /// A demo-shaped directory with the PKI files the node's reader checks exist.
    func layout() throws -> (FederationLayout, TestPKI) {
        let root = try TestKit.temporaryDirectory("provisioner")
        let layout = FederationLayout(root: root)
        let pki = try TestPKI()
        try FileManager.default.createDirectory(atPath: layout.nodeDirectory("wales"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: layout.nodePKIDirectory("wales"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: layout.caDirectory, withIntermediateDirectories: true)
        let wales = try pki.node("wales")
        try FileManager.default.copyItem(atPath: pki.caCertificate, toPath: layout.caCertificate)
        try FileManager.default.copyItem(atPath: wales.certificate, toPath: "\(layout.nodePKIDirectory("wales"))/wales.pem")
        try FileManager.default.copyItem(atPath: wales.key, toPath: "\(layout.nodePKIDirectory("wales"))/wales.key")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: layout.federationFile))
        return (layout, pki)
    }

    @Test func aNodeConfigurationReadsBackThroughTheNodesReader() throws {
        let (layout, pki) = try layout()
        defer { try? FileManager.default.removeItem(at: layout.root); pki.remove() }
        let reader = TokenGrant.digest("reader-token"), op = TokenGrant.digest("operator-token"), auditor = TokenGrant.digest("auditor-token")
        var file = layout.configuration(node: "wales", peer: "127.0.0.1:7401", api: "[::1]:8401", tokens: [
            .init(name: "analyst", role: .reader, sha256: TokenGrant.hex(reader)),
            .init(name: "wales-operator", role: .operator, sha256: TokenGrant.hex(op)),
            .init(name: "inspector", role: .auditor, sha256: TokenGrant.hex(auditor)),
        ])
        file.log = "wales-log"
        file.logLevel = "warning"
        try ProvisionedFile.write(file, to: layout.configFile("wales"))
        let read = try NodeConfiguration.load(path: layout.configFile("wales"))
        #expect(read.node == "wales")
        #expect(read.log == "wales-log")
        #expect(read.dataDirectory == layout.dataDirectory("wales"))
        #expect(read.peerListen == HostPort(host: "127.0.0.1", port: 7401))
        #expect(read.apiListen == HostPort(host: "::1", port: 8401))
        #expect(read.caCertificate == layout.caCertificate)
        #expect(read.certificate == "\(layout.nodePKIDirectory("wales"))/wales.pem")
        #expect(read.privateKey == "\(layout.nodePKIDirectory("wales"))/wales.key")
        #expect(read.federationFile == layout.federationFile)
        #expect(read.logLevel == .warning)
        #expect(read.tokens == [
            TokenGrant(name: "analyst", identity: .reader("analyst"), sha256: reader),
            TokenGrant(name: "wales-operator", identity: .operator("wales-log"), sha256: op),
            TokenGrant(name: "inspector", identity: .auditor("inspector"), sha256: auditor),
        ])
        #expect(try ProvisionedFile.read(NodeConfigurationFile.self, from: layout.configFile("wales")) == file)
    }

    /// Keys left nil are not written, and the node applies its documented defaults.
    @Test func optionalKeysAreOmittedAndTakeTheNodesDefaults() throws {
        let (layout, pki) = try layout()
        defer { try? FileManager.default.removeItem(at: layout.root); pki.remove() }
        try ProvisionedFile.write(layout.configuration(node: "wales", peer: "127.0.0.1:7401", api: "127.0.0.1:8401"), to: layout.configFile("wales"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout.configFile("wales")))) as? [String: Any])
        #expect(Set(object.keys) == ["node", "data", "peer", "api", "tls", "federation"])
        let read = try NodeConfiguration.load(path: layout.configFile("wales"))
        #expect(read.log == "wales")
        #expect(read.logLevel == .info)
        #expect(read.tokens.isEmpty)
    }

    @Test func aFederationFileReadsBackThroughTheNodesReader() throws {
        let keys = try (0..<3).map { _ in try Ed25519PrivateKey() }
        let uk = NoteVerifier(name: "quartet.test/uk", publicKey: keys[0].publicKey)
        let wales = NoteVerifier(name: "quartet.test/cymru", publicKey: keys[1].publicKey)
        let heiw = NoteVerifier(name: "HEIW", publicKey: keys[2].publicKey)
        let file = FederationFile(federation: "test-federation", nodes: [
            .init(id: "uk", role: .aggregator, peer: "127.0.0.1:7400", api: "https://127.0.0.1:8400", vkey: uk.vkey),
            .init(id: "wales", role: .nation, peer: "[::1]:7401", api: "https://wales.example:8401", log: "cymru", vkey: wales.vkey),
        ], owners: [.init(id: "HEIW", name: "Health Education and Improvement Wales", vkey: heiw.vkey, labels: ["heiw.*", "shared.headcount"])])
        let path = try TestKit.temporaryDirectory("provisioner").appendingPathComponent("federation.json").path
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try ProvisionedFile.write(file, to: path)
        let read = try Federation.load(path: path)
        #expect(read.name == "test-federation")
        #expect(read.members.map(\.id) == ["uk", "wales"])
        #expect(read.members.map(\.role) == [.aggregator, .nation])
        #expect(read.members.map(\.peer) == [HostPort(host: "127.0.0.1", port: 7400), HostPort(host: "::1", port: 7401)])
        #expect(read.members.map(\.api) == ["https://127.0.0.1:8400", "https://wales.example:8401"])
        #expect(read.members.map(\.log) == ["uk", "cymru"])
        #expect(read.members.map(\.verifier.vkey) == [uk.vkey, wales.vkey])
        #expect(read.owners.mapValues(\.vkey) == ["HEIW": heiw.vkey])
        #expect(read.labels.owner(of: "heiw.workforce.headcount") == "HEIW")
        #expect(read.labels.owner(of: "shared.headcount") == "HEIW")
        #expect(read.labels.owner(of: "nhss.workforce.headcount") == nil)
        #expect(try ProvisionedFile.read(FederationFile.self, from: path) == file)
    }

    /// demo.json keeps the keys scripts read (scripts/check-api.sh, the tests) and round-trips.
    @Test func theDemoDescriptionKeepsItsKeys() throws {
        var node = DemoDescription.Node(name: "wales", role: .nation, peer: "127.0.0.1:7401", api: "https://127.0.0.1:8401", config: "/d/wales/wales.json",
                                        data: "/d/wales/data", log: "wales", vkey: "v", caCertificate: "/d/pki/ca/ca.pem",
                                        operatorCertificate: "/d/op.pem", operatorKey: "/d/op.key", operatorToken: "qt_x")
        node.pid = 1234
        node.logFile = "/d/logs/wales.log"
        var demo = DemoDescription(federation: "/d/federation.json", caCertificate: "/d/pki/ca/ca.pem",
                                   reader: .init(certificate: "/d/r.pem", key: "/d/r.key", identity: "quartet://reader/analyst", token: "qt_r"),
                                   ownerKeys: ["HEIW": "/d/pki/owners/HEIW.pem"], nodes: [node])
        demo.seeded = true
        let data = try ProvisionedFile.encode(demo)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["federation", "ca_certificate", "reader", "owner_keys", "nodes", "seeded"])
        #expect(Set((object["reader"] as? [String: Any] ?? [:]).keys) == ["certificate", "key", "identity", "token"])
        let written = try #require((object["nodes"] as? [[String: Any]])?.first)
        #expect(Set(written.keys) == ["name", "role", "peer", "api", "config", "data", "log", "vkey", "ca_certificate", "operator_certificate",
                                      "operator_key", "operator_token", "pid", "log_file"])
        #expect(written["pid"] as? Int == 1234 && written["role"] as? String == "nation")
        #expect(try JSONDecoder().decode(DemoDescription.self, from: data) == demo)
    }
}

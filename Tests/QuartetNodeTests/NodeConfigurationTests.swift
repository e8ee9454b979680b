import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetTestKit
import Testing

/// Configuration and federation files: what parses, and that every mistake names the file, the
/// key and what was expected.
@Suite struct NodeConfigurationTests {
    /// A directory holding the files a valid configuration names.
    struct Files {
        let dir: URL
        init() throws {
            dir = try TestKit.temporaryDirectory("config")
            for name in ["ca.pem", "wales.pem", "wales.key", "federation.json"] {
                try Data("x".utf8).write(to: dir.appendingPathComponent(name))
            }
        }
        var path: String { dir.appendingPathComponent("wales.json").path }
    }

    static var valid: [String: Any] { [
        "node": "wales", "data": "data", "peer": ["listen": "127.0.0.1:7401"], "api": ["listen": "[::1]:8401"],
        "tls": ["ca": "ca.pem", "certificate": "wales.pem", "key": "wales.key"], "federation": "federation.json",
    ] }

    func parse(_ object: [String: Any], _ files: Files) throws(ConfigurationError) -> NodeConfiguration {
        let data = try! JSONSerialization.data(withJSONObject: object)
        return try NodeConfiguration.parse(data, file: files.path)
    }

    func error(_ object: [String: Any], _ files: Files) -> ConfigurationError? {
        do { _ = try parse(object, files); return nil } catch { return error }
    }

    @Test func aValidFileParsesWithPathsResolvedAgainstItsDirectory() throws {
        let files = try Files()
        let config = try parse(Self.valid, files)
        #expect(config.node == "wales")
        #expect(config.log == "wales")
        #expect(config.dataDirectory == files.dir.appendingPathComponent("data").path)
        #expect(config.caCertificate == files.dir.appendingPathComponent("ca.pem").path)
        #expect(config.peerListen == HostPort(host: "127.0.0.1", port: 7401))
        #expect(config.apiListen == HostPort(host: "::1", port: 8401))
        #expect(config.logLevel == .info)
        #expect(config.logFormat == .text)
        var json = Self.valid
        json["log_format"] = "json"
        #expect(try parse(json, files).logFormat == .json)
    }

    @Test(arguments: [
        ("node", #""Wales""#, "node", "expected a node id"),
        ("node", "7", "node", "expected a string, found a number"),
        ("peer", #"{"listen": "127.0.0.1"}"#, "peer.listen", "expected host:port"),
        ("peer", #"{"listen": "127.0.0.1:70000"}"#, "peer.listen", "port from 1 to 65535"),
        ("peer", #"{"listen": "127.0.0.1:7401", "port": 1}"#, "peer.port", "unknown key"),
        ("api", #""127.0.0.1:8401""#, "api", "expected an object, found a string"),
        ("tls", #"{"ca": "ca.pem", "certificate": "missing.pem", "key": "wales.key"}"#, "tls.certificate", "does not exist"),
        ("tls", #"{"ca": "/dev/zero", "certificate": "wales.pem", "key": "wales.key"}"#, "tls.ca", "expected a regular file, but /dev/zero is a character device"),
        ("federation", "true", "federation", "expected a string, found a boolean"),
        ("log_level", #""loud""#, "log_level", "expected one of trace"),
        ("log_format", #""xml""#, "log_format", "expected one of text, json, found \"xml\""),
        // A value of any length is quoted by its first 64 characters and its size.
        ("node", "\"" + String(repeating: "W", count: 100_000) + "\"", "node", "found \"" + String(repeating: "W", count: 64) + "…\" (100000 bytes)"),
        ("log_format", "1", "log_format", "expected a string"),
        ("colour", #""blue""#, "colour", "unknown key"),
    ])
    func mistakesNameTheKeyAndWhatWasExpected(key: String, value: String, reported: String, message: String) throws {
        let files = try Files()
        var object = Self.valid
        object[key] = try JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
        let found = try #require(self.error(object, files))
        #expect(found.file == files.path)
        #expect(found.key == reported, "\(found)")
        #expect(found.message.contains(message), "\(found)")
        #expect(found.message.utf8.count < 1_000, "the error quotes \(found.message.utf8.count) bytes")
    }

    @Test func missingKeysAndBrokenJSONAreReported() throws {
        let files = try Files()
        var object = Self.valid
        object["data"] = nil
        #expect(error(object, files)?.description == "\(files.path): data: missing; expected a string")
        var same = Self.valid
        same["api"] = ["listen": "127.0.0.1:7401"]
        #expect(error(same, files)?.message.contains("cannot share an address") == true)
        #expect(throws: ConfigurationError.self) { try NodeConfiguration.parse(Data("{\"node\": ".utf8), file: files.path) }
        let array = #expect(throws: ConfigurationError.self) { try NodeConfiguration.parse(Data("[1]".utf8), file: files.path) }
        #expect(array?.message == "expected a JSON object at the top level")
        let missing = #expect(throws: ConfigurationError.self) {
            try NodeConfiguration.load(path: files.dir.appendingPathComponent("nope.json").path)
        }
        #expect(missing?.message.contains("cannot read the configuration file") == true)
        // A FIFO (or a device) named by mistake is refused, not waited on or read for ever.
        let fifo = files.dir.appendingPathComponent("fifo.json").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let notFile = #expect(throws: ConfigurationError.self) { try Federation.load(path: fifo) }
        #expect(notFile?.message.contains("not a regular file") == true, "\(String(describing: notFile))")
    }

    @Test func hostPortForms() {
        #expect(HostPort(parsing: "localhost:1") == HostPort(host: "localhost", port: 1))
        #expect(HostPort(parsing: "[fe80::1]:443") == HostPort(host: "fe80::1", port: 443))
        #expect(HostPort(parsing: "fe80::1:443") == nil)
        #expect(HostPort(parsing: ":443") == nil)
        #expect(HostPort(parsing: "host:0") == nil)
        #expect(HostPort(parsing: "host:+80") == nil)
        #expect(HostPort(parsing: "[::1]:8401")?.description == "[::1]:8401")
        #expect(HostPort(parsing: "ho\u{1B}st:80") == nil && HostPort(parsing: "ho\u{85}st:80") == nil)
        #expect(HostPort(parsing: String(repeating: "a", count: 254) + ":80") == nil)
    }

    // MARK: Federation file

    static let vkey = "quartet.ot-workforce.uk/wales+16cbd40f+AT5QqOR/s1lEI6UQl/iH33Lx++kfor3F2ZtnwqHrfDiT"

    /// Each member its own log key (wales's is `vkey`): a federation file refuses a key shared.
    func member(_ id: String, role: String = "nation", vkey: String? = nil) -> [String: Any] {
        let key = vkey ?? (id == "wales" ? Self.vkey : NoteVerifier(name: "quartet.ot-workforce.uk/\(id)", publicKey: try! Ed25519PrivateKey().publicKey).vkey)
        return ["id": id, "role": role, "peer": "127.0.0.1:7401", "api": "https://127.0.0.1:8401", "vkey": key]
    }

    func federationError(_ nodes: [[String: Any]]) -> ConfigurationError? {
        let data = try! JSONSerialization.data(withJSONObject: ["federation": "test", "version": 1, "nodes": nodes])
        do { _ = try Federation.parse(data, file: "federation.json"); return nil } catch { return error }
    }

    @Test func federationFileParses() throws {
        let data = try JSONSerialization.data(withJSONObject: ["federation": "uk-ot", "version": 1, "nodes": [member("uk", role: "aggregator"), member("wales")]])
        let federation = try Federation.parse(data, file: "federation.json")
        #expect(federation.members.map(\.id) == ["uk", "wales"])
        #expect(federation.member("uk")?.role == .aggregator)
        #expect(federation.member("wales")?.verifier.vkey == Self.vkey)
        #expect(federation.member("wales")?.log == "wales")
    }

    @Test func federationMistakesAreReported() {
        #expect(federationError([member("wales"), member("wales")])?.description == "federation.json: nodes[1].id: node \"wales\" is listed twice")
        #expect(federationError([member("wales", role: "king")])?.key == "nodes[0].role")
        #expect(federationError([member("wales", vkey: "wales+00+AA")])?.key == "nodes[0].vkey")
        var http = member("wales")
        http["api"] = "http://127.0.0.1:8401"
        #expect(federationError([http])?.message.contains("https://") == true)
        #expect(federationError([member("a", role: "aggregator"), member("b", role: "aggregator")])?.message.contains("more than one") == true)
        #expect(federationError([])?.key == "nodes")
        #expect(federationError([member("wales"), member("uk", vkey: Self.vkey)])?.description == "federation.json: nodes[1].vkey: the same key as wales's log; every member's log has its own key")
        // A log name becomes file names (evidence/<log>.json) and terminal output: the node
        // configuration's rule; a peer host has no control characters.
        for bad in ["../../../wales", "evil\r\u{1B}[2K", "Wales", ""] {
            var odd = member("wales")
            odd["log"] = bad
            #expect(federationError([odd])?.key == "nodes[0].log", "\(bad.debugDescription)")
        }
        // A key given twice means one thing to one parser and another to the next: refused.
        let twice = Data(#"{"federation": "test", "version": 99, "version": 1, "nodes": []}"#.utf8)
        #expect(throws: ConfigurationError.self) { try Federation.parse(twice, file: "federation.json") }
        do { _ = try Federation.parse(twice, file: "federation.json") } catch { #expect(error.message.contains("version"), "\(error)") }
        // Two logs under one origin (the key name): refused.
        let sameOrigin = member("uk", vkey: NoteVerifier(name: "quartet.ot-workforce.uk/wales", publicKey: try! Ed25519PrivateKey().publicKey).vkey)
        #expect(federationError([member("wales"), sameOrigin])?.message.contains("names the origin quartet.ot-workforce.uk/wales, which is wales's log's") == true)
        // Two witness keys under one name (a key id ground to match masks the other's lines),
        // or a witness key named as a log: refused.
        func witness(_ name: String) -> String { CosignatureVerifier(name: name, publicKey: try! Ed25519PrivateKey().publicKey).vkey }
        var witnessed = member("wales")
        witnessed["witness"] = witness("quartet.ot-workforce.uk/wales-witness")
        var sameWitnessName = member("uk")
        sameWitnessName["witness"] = witness("quartet.ot-workforce.uk/wales-witness")
        #expect(federationError([witnessed, sameWitnessName])?.message.contains("a key name wales uses already") == true)
        var witnessAsLog = member("uk")
        witnessAsLog["witness"] = witness("quartet.ot-workforce.uk/wales")
        #expect(federationError([member("wales"), witnessAsLog])?.key == "nodes[1].witness")
        var ownName = member("uk")
        ownName["witness"] = witness("quartet.ot-workforce.uk/uk")
        #expect(federationError([ownName])?.message.contains("the name of this member's log key") == true)
        let logAsWitness = member("uk", vkey: NoteVerifier(name: "quartet.ot-workforce.uk/wales-witness", publicKey: try! Ed25519PrivateKey().publicKey).vkey)
        #expect(federationError([witnessed, logAsWitness])?.message.contains("which is wales's witness key's") == true)
        var hidden = member("wales")
        hidden["peer"] = "\u{1B}[2K\u{1B}[1A:7401"
        #expect(federationError([hidden])?.key == "nodes[0].peer")
        // Nor an API address (one erased the line of a member added, in `federation show`,
        // from the members reviewing the file before they sign it): printable ASCII only.
        var erasing = member("wales")
        erasing["api"] = "https://127.0.0.1:8401/\u{1B}7\u{1B}[1A\u{1B}[2K\u{1B}8"
        let refused = federationError([erasing])
        #expect(refused?.key == "nodes[0].api" && refused?.message.contains("printable ASCII") == true, "\(String(describing: refused))")
    }

    // MARK: The examples under config/

    @Test func theExampleFilesParse() throws {
        let config = TestKit.repositoryRoot.appendingPathComponent("config")
        let federation = try Federation.load(path: config.appendingPathComponent("federation.example.json").path)
        #expect(federation.members.map(\.id) == ["uk", "wales", "england", "scotland", "northern-ireland"])
        #expect(federation.members.filter { $0.role == .aggregator }.map(\.id) == ["uk"])
        // The node example names files under /etc/quartet, which this machine lacks: the only
        // complaint must be the first of those.
        do {
            _ = try NodeConfiguration.load(path: config.appendingPathComponent("wales.example.json").path)
            Issue.record("the example should name files that do not exist here")
        } catch {
            #expect(error.key == "tls.ca", "\(error)")
            #expect(error.message.contains("/etc/quartet/pki/ca.pem does not exist"), "\(error)")
        }
    }
}

import Foundation
import QuartetHarness
import QuartetNode
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

extension TestKit {
    /// Runs `openssl s_client`, writes `input`, keeps standard input open for a moment so replies can
    /// arrive, and returns what it printed (killed if it has not ended 10 s after that).
    public static func sClient(_ arguments: [String], input: String, holdOpen: TimeInterval = 1.0) throws -> TestKit.ProcessResult {
        guard let openssl = TestKit.which("openssl") else { throw TestKitError("openssl is not installed") }
        var settings = ChildSettings(executable: openssl.path, arguments: ["s_client"] + arguments)
        settings.standardInput = .pipe
        settings.standardOutput = .capture()
        settings.standardError = .capture()
        let child = try ChildProcess.spawn(settings)
        child.write(Array(input.utf8))
        Thread.sleep(forTimeInterval: holdOpen)
        child.closeInput()
        let exit = child.wait(timeout: .seconds(10)) ?? child.stop(signal: SIGKILL)
        child.waitForOutputEnd(timeout: .seconds(5))
        return TestKit.ProcessResult(status: exit.code, stdout: child.output(1), stderr: child.output(2))
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    public static func freePort() throws -> Int { try HostPort.freeLoopbackPort() }
}

/// One node's files for `quartet serve`: a PKI, an initialised data directory with a few entries,
/// a federation file and a node configuration, all in a temporary directory.
public struct NodeFiles: Sendable {
    public let root: URL
    public let pki: TestPKI
    public let node: String
    public let peerPort: Int
    public let apiPort: Int
    /// The loopback address the node listens on: `127.0.0.1`, or `::1`.
    public let host: String
    public var configPath: String { root.appendingPathComponent("\(node).json").path }
    public var dataPath: String { root.appendingPathComponent("data").path }
    public var apiBase: String { "https://\(address(apiPort))" }

    /// `host:port`, an IPv6 literal bracketed.
    func address(_ port: Int) -> String { HostPort(host: host, port: port).description }

    /// - Parameters:
    ///   - members: other federation members (their certificates are issued too).
    ///   - host: the loopback address the node listens on (its certificate names both).
    public init(node: String = "wales", members: [String] = ["uk", "england"], entries: Int = 3, host: String = "127.0.0.1") throws {
        self.host = host
        root = try TestKit.temporaryDirectory("node")
        pki = try TestPKI()
        self.node = node
        peerPort = try TestKit.freePort()
        apiPort = try TestKit.freePort()
        let own = try pki.node(node)
        for member in members { _ = try pki.node(member) }
        let initResult = try TestKit.quartet(["init", "--log", node, "--data", dataPath])
        guard initResult.status == 0 else { throw TestKitError("quartet init failed: \(initResult.stderr)") }
        for i in 0..<entries {
            let appended = try TestKit.quartet(["append", "--data", dataPath, "--type", "measure.reading", "--payload", "-"],
                                               stdin: Array(#"{"measure":"P2.A2.M1","value":\#(i)}"#.utf8))
            guard appended.status == 0 else { throw TestKitError("quartet append failed: \(appended.stderr)") }
        }
        let vkey = try TestKit.quartet(["key", "vkey", "--data", dataPath, "--log", node]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // Other members' keys only need to be well formed here; nothing replicates yet.
        var nodes = [FederationFile.Node(id: node, role: .nation, peer: address(peerPort), api: apiBase, vkey: vkey)]
        for (i, member) in members.enumerated() {
            let dir = root.appendingPathComponent("other-\(member)").path
            _ = try TestKit.quartet(["init", "--log", member, "--data", dir])
            let key = try TestKit.quartet(["key", "vkey", "--data", dir, "--log", member]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            nodes.append(FederationFile.Node(id: member, role: member == "uk" ? .aggregator : .nation, peer: "127.0.0.1:\(40000 + i)",
                                             api: "https://127.0.0.1:\(41000 + i)", vkey: key))
        }
        let federationFile = root.appendingPathComponent("federation.json").path
        try ProvisionedFile.write(FederationFile(federation: "test", nodes: nodes), to: federationFile)
        // Every member signs it (a node refuses a file a quorum has not signed).
        try FederationTrust.sign(file: federationFile, member: node, key: DataDirectory(path: dataPath).readSigningKey(log: node))
        for member in members {
            let directory = DataDirectory(path: root.appendingPathComponent("other-\(member)").path)
            try FederationTrust.sign(file: federationFile, member: member, key: directory.readSigningKey(log: member))
        }
        let config = NodeConfigurationFile(node: node, data: "data", peer: address(peerPort), api: address(apiPort),
                                           tls: .init(ca: pki.caCertificate, certificate: own.certificate, key: own.key), federation: "federation.json")
        try ProvisionedFile.write(config, to: configPath)
    }

    public func remove() {
        try? FileManager.default.removeItem(at: root)
        pki.remove()
    }
}

/// A running `quartet serve` child process, started through the harness (`ServeChild`): in the
/// test process's process group, with its lifeline, so it ends with the test process.
public final class NodeProcess: @unchecked Sendable {
    public let child: ChildProcess
    private let stderrPath: String
    /// The line the node printed when it was ready.
    public let readyLine: String

    /// Starts `quartet serve --config FILE [arguments]` and waits until it prints that it is listening.
    public init(config: String, arguments: [String] = [], timeout: TimeInterval = 30) throws {
        stderrPath = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-serve-\(UUID().uuidString).log").path
        var settings = ServeChild.settings(executable: try TestKit.quartetBinary().path, config: config, arguments: arguments)
        settings.standardError = .file(stderrPath)
        child = try ChildProcess.spawn(settings)
        do {
            readyLine = try ServeChild.waitUntilListening(child, timeout: .milliseconds(Int64(timeout * 1000)), log: stderrPath)
        } catch {
            try? FileManager.default.removeItem(atPath: stderrPath)
            throw TestKitError("\(error)")
        }
    }

    /// The node's process id.
    public var pid: Int32 { child.pid }

    /// What the node wrote to standard error so far.
    public var log: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits up to `timeout` for the exit; nil if it did not exit (it is then
    /// killed).
    public func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 15) -> Int32? {
        child.signal(signal)
        if let exit = child.wait(timeout: .milliseconds(Int64(timeout * 1000))) { return exit.code }
        child.stop(signal: SIGKILL)
        return nil
    }

    deinit {
        if child.isRunning { child.stop(signal: SIGKILL) }
        try? FileManager.default.removeItem(atPath: stderrPath)
    }
}

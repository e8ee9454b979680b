import Foundation
import QuartetNode
#if canImport(Glibc)
import Glibc
#endif

extension TestKit {
    /// Runs `openssl s_client`, writes `input`, keeps standard input open for a moment so replies can
    /// arrive, and returns what it printed.
    public static func sClient(_ arguments: [String], input: String, holdOpen: TimeInterval = 1.0) throws -> TestKit.ProcessResult {
        guard let openssl = TestKit.which("openssl") else { throw TestKitError("openssl is not installed") }
        let process = Process()
        process.executableURL = openssl
        process.arguments = ["s_client"] + arguments
        let out = Pipe(), err = Pipe(), stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        Thread.sleep(forTimeInterval: holdOpen)
        try stdin.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return TestKit.ProcessResult(status: process.terminationStatus,
                                     stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                                     stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
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
    public var configPath: String { root.appendingPathComponent("\(node).json").path }
    public var dataPath: String { root.appendingPathComponent("data").path }
    public var apiBase: String { "https://127.0.0.1:\(apiPort)" }

    /// - Parameter members: other federation members (their certificates are issued too).
    public init(node: String = "wales", members: [String] = ["uk", "england"], entries: Int = 3) throws {
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
        var nodes = [#"{"id": "\#(node)", "role": "nation", "peer": "127.0.0.1:\#(peerPort)", "api": "https://127.0.0.1:\#(apiPort)", "vkey": "\#(vkey)"}"#]
        for (i, member) in members.enumerated() {
            let dir = root.appendingPathComponent("other-\(member)").path
            _ = try TestKit.quartet(["init", "--log", member, "--data", dir])
            let key = try TestKit.quartet(["key", "vkey", "--data", dir, "--log", member]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let role = member == "uk" ? "aggregator" : "nation"
            nodes.append(#"{"id": "\#(member)", "role": "\#(role)", "peer": "127.0.0.1:\#(40000 + i)", "api": "https://127.0.0.1:\#(41000 + i)", "vkey": "\#(key)"}"#)
        }
        try Data(#"{"federation": "test", "nodes": [\#(nodes.joined(separator: ",\n"))]}"#.utf8)
            .write(to: root.appendingPathComponent("federation.json"))
        let config = """
            {
              "node": "\(node)",
              "data": "data",
              "peer": {"listen": "127.0.0.1:\(peerPort)"},
              "api": {"listen": "127.0.0.1:\(apiPort)"},
              "tls": {"ca": "\(pki.caCertificate)", "certificate": "\(own.certificate)", "key": "\(own.key)"},
              "federation": "federation.json"
            }
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: configPath))
    }

    public func remove() {
        try? FileManager.default.removeItem(at: root)
        pki.remove()
    }
}

/// A running `quartet serve` child process.
public final class NodeProcess: @unchecked Sendable {
    public let process: Process
    private let stderrURL: URL
    /// The line the node printed when it was ready.
    public let readyLine: String

    /// Starts `quartet serve --config FILE` and waits until it prints that it is listening.
    public init(config: String, timeout: TimeInterval = 30) throws {
        process = Process()
        process.executableURL = try TestKit.quartetBinary()
        process.arguments = ["serve", "--config", config]
        stderrURL = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-serve-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: stderrURL)
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read standard output until the ready line (or the process ends).
        let reader = out.fileHandleForReading
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = Data()
        var line: String?
        while line == nil {
            guard Date() < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw TestKitError("quartet serve did not report listening within \(timeout) s: \(Self.read(stderrURL))")
            }
            let chunk = reader.availableData
            if chunk.isEmpty {
                process.waitUntilExit()
                throw TestKitError("quartet serve exited with status \(process.terminationStatus) before listening: \(Self.read(stderrURL))")
            }
            buffer.append(chunk)
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                line = String(decoding: buffer[..<newline], as: UTF8.self)
            }
        }
        readyLine = line!
    }

    /// What the node wrote to standard error so far.
    public var log: String { Self.read(stderrURL) }

    private static func read(_ url: URL) -> String { (try? String(contentsOf: url, encoding: .utf8)) ?? "" }

    /// Sends `signal` and waits up to `timeout` for the exit; nil if it did not exit.
    public func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 15) -> Int32? {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: stderrURL)
    }
}

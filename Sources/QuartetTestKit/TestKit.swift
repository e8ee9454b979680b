import Foundation
import QuartetHarness
import QuartetCrypto
import QuartetLedger
import QuartetStore

/// Fixtures shared by Quartet's test targets.
public enum TestKit {
    /// A new empty directory under the system temporary directory.
    public static func temporaryDirectory(_ label: String = "test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Leaf hashes of `n` distinct small leaves.
    public static func leaves(_ n: Int) -> [Hash] {
        (0..<n).map { Hash.leaf(Array("leaf-\($0)".utf8)) }
    }

    /// A data directory with one own log, `log`, and its signing key.
    public static func makeStore(log: String = "wales", at url: URL? = nil) throws -> LedgerStore {
        let url = try url ?? temporaryDirectory("store")
        let directory = DataDirectory(path: url.path)
        let store = try LedgerStore.create(directory)
        let key = try Ed25519PrivateKey()
        try directory.writeSigningKey(key, log: log)
        try store.addLog(name: log, origin: "quartet.test/\(log)", publicKey: key.publicKey, own: true, nowMillis: 1)
        return store
    }

    /// A JSON-object payload.
    public static func payload(_ i: Int) -> [UInt8] {
        Array(#"{"measure":"m\#(i)","value":\#(i)}"#.utf8)
    }

    /// The repository root (the directory holding Package.swift).
    public static var repositoryRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("no Package.swift above \(#filePath)")
    }

    /// The built `quartet` executable: `$QUARTET_BIN`, else beside the running test bundle,
    /// else `.build/debug/quartet`.
    public static func quartetBinary() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["QUARTET_BIN"] { return URL(fileURLWithPath: path) }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("quartet")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        let debug = repositoryRoot.appendingPathComponent(".build/debug/quartet")
        if FileManager.default.isExecutableFile(atPath: debug.path) { return debug }
        throw TestKitError("the quartet executable is not built; run `swift build` before the tests (scripts/test.sh does)")
    }

    /// The outcome of a finished process.
    public struct ProcessResult: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String

        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// Runs a program to completion with optional standard input.
    @discardableResult
    public static func run(_ executable: URL, _ arguments: [String], stdin: [UInt8]? = nil, environment: [String: String]? = nil,
                           currentDirectory: URL? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
        try input.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child cannot block on a full pipe.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs the `quartet` executable.
    @discardableResult
    public static func quartet(_ arguments: [String], stdin: [UInt8]? = nil) throws -> ProcessResult {
        try run(try quartetBinary(), arguments, stdin: stdin)
    }

    /// Finds a program on PATH.
    public static func which(_ name: String) -> URL? { ChildProcess.onPath(name) }

    /// Builds Tests/Interop/tlogcheck, the checker over Go's golang.org/x/mod/sumdb/note and
    /// .../tlog (Debian golang-golang-x-mod-dev), and returns the binary.
    public static func goNoteChecker() throws -> URL {
        guard let go = which("go") else { throw TestKitError("Go is not installed; run scripts/setup.sh") }
        let out = try temporaryDirectory("go")
        let binary = out.appendingPathComponent("tlogcheck")
        let result = try run(go, ["build", "-o", binary.path, "."],
                             environment: ["GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": out.appendingPathComponent("cache").path,
                                           "GOFLAGS": "-mod=mod"],
                             currentDirectory: repositoryRoot.appendingPathComponent("Tests/Interop/tlogcheck"))
        guard result.status == 0 else { throw TestKitError("go build tlogcheck failed (is golang-golang-x-mod-dev installed?): \(result.stderr)") }
        return binary
    }
}

/// A fixture that could not be set up.
public struct TestKitError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A federation CA and node certificates in a temporary directory, for TLS tests.
public struct TestPKI: Sendable {
    public let root: URL
    public var caCertificate: String { root.appendingPathComponent("ca/ca.pem").path }

    public init() throws {
        root = try TestKit.temporaryDirectory("pki")
        _ = try FederationPKI.createAuthority(in: root.appendingPathComponent("ca").path)
    }

    /// Issues (once) and returns the certificate and key paths of `node`.
    public func node(_ node: String, days: Int = 30, now: Date = Date(), notBefore: Date? = nil, label: String? = nil) throws -> (certificate: String, key: String) {
        let dir = root.appendingPathComponent("nodes/\(label ?? node)").path
        if !FileManager.default.fileExists(atPath: "\(dir)/\(node).pem") {
            _ = try FederationPKI.issueNode(node, caDirectory: root.appendingPathComponent("ca").path, in: dir, days: days, now: now, notBefore: notBefore)
        }
        return ("\(dir)/\(node).pem", "\(dir)/\(node).key")
    }

    public func remove() { try? FileManager.default.removeItem(at: root) }
}

extension LedgerStore {
    /// A served batch, each entry decoded and checked as a receiver would.
    public func decodedBatch(_ log: LogInfo, from: UInt64, maxEntries: Int, maxBytes: Int) throws -> (entries: [Entry], note: String)? {
        guard let (stored, note) = try batch(log, from: from, maxEntries: maxEntries, maxBytes: maxBytes) else { return nil }
        return (try stored.map { try $0.decoded() }, note)
    }
}

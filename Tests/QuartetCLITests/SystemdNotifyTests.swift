import Foundation
import QuartetHarness
import QuartetTestKit
import Testing

/// `quartet serve` under a stand-in for systemd's `Type=notify`: the node's datagrams to
/// `$NOTIFY_SOCKET` around start, reload (SIGHUP) and stop (SIGTERM), and its JSON log lines.
@Suite(.serialized) struct SystemdNotifyTests {
    /// Starts `quartet serve` with `NOTIFY_SOCKET` set and `arguments` added; through `wrapper`
    /// when given (the wrapper execs the rest of its command line).
    func start(_ files: NodeFiles, socket: NotifySocket, arguments: [String] = [], wrapper: String? = nil) throws -> (ChildProcess, String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-notify-\(UUID().uuidString).log").path
        var settings = ServeChild.settings(executable: try TestKit.quartetBinary().path, config: files.configPath, arguments: arguments)
        if let wrapper {
            settings.arguments = [settings.executable] + settings.arguments
            settings.executable = wrapper
        }
        settings.standardError = .file(log)
        settings.environment["NOTIFY_SOCKET"] = socket.address
        let child = try ChildProcess.spawn(settings)
        return (child, log)
    }

    @Test(arguments: [true, false])
    func readyReloadingAndStoppingReachTheSocket(abstract: Bool) throws {
        let files = try NodeFiles(entries: 1)
        defer { files.remove() }
        let socket = try NotifySocket(abstract: abstract)
        let (child, log) = try start(files, socket: socket, arguments: ["--log-format", "json"])
        defer {
            if child.isRunning { child.stop(signal: SIGKILL) }
            try? FileManager.default.removeItem(atPath: log)
        }
        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        // READY=1 only once the node listens: its ready line is printed in the same callback,
        // and nothing (STOPPING=1, a failure) came before but the start timeout pushed on
        // while it opens (a migration or the first fold can outlast systemd's 90 s).
        let ready = try #require(socket.receive(until: "READY=1"), "no READY=1; the node's log:\n\(logText())")
        #expect(!ready.before.isEmpty && ready.before.allSatisfy { $0.hasPrefix("EXTEND_TIMEOUT_USEC=60000000\nSTATUS=starting") },
                "\(ready.before)")
        #expect(ready.match.contains("STATUS=listening"), "\(ready.match)")
        #expect(child.isRunning)

        // A reload: RELOADING=1 with the monotonic time, then READY=1 again, and the node runs on.
        child.signal(SIGHUP)
        let reloading = try #require(socket.receive(until: "RELOADING=1"), "no RELOADING=1; log:\n\(logText())")
        let usec = reloading.match.split(separator: "\n").first { $0.hasPrefix("MONOTONIC_USEC=") }
        #expect(usec.flatMap { UInt64($0.dropFirst("MONOTONIC_USEC=".count)) } != nil, "\(reloading.match)")
        #expect(socket.receive(until: "READY=1") != nil, "no READY=1 after the reload")
        #expect(child.isRunning, "SIGHUP must not stop the node")

        child.signal(SIGTERM)
        let stopping = try #require(socket.receive(until: "STOPPING=1"), "no STOPPING=1; log:\n\(logText())")
        #expect(!stopping.before.contains { $0.contains("READY=1") }, "\(stopping.before)")
        let exit = try #require(child.wait(timeout: .seconds(20)), "the node did not stop")
        #expect(exit.code == 0, "\(exit) \(logText())")

        // --log-format json: every line of standard error is one object with the five keys.
        let lines = logText().split(separator: "\n")
        #expect(!lines.isEmpty)
        var messages: [String: [String: Any]] = [:]
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            #expect(Set(object.keys) == ["time", "level", "label", "message", "metadata"], "\(line)")
            if let message = object["message"] as? String { messages[message] = object }
        }
        let listening = try #require(messages["node listening"], "\(messages.keys)")
        #expect(listening["level"] as? String == "notice")
        #expect((listening["metadata"] as? [String: Any])?["node"] as? String == files.node)
        #expect(messages["reload requested"]?["level"] as? String == "notice", "\(messages.keys)")
        #expect(messages["node stopped"] != nil, "\(messages.keys)")
    }

    @Test func withoutNotifySocketNothingChangesAndAnUnusableOneIsLogged() throws {
        let files = try NodeFiles(entries: 0)
        defer { files.remove() }
        // An unusable address: the node still runs, and says why systemd will not hear from it.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-notify-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        var settings = ServeChild.settings(executable: try TestKit.quartetBinary().path, config: files.configPath)
        settings.standardError = .file(log)
        settings.environment["NOTIFY_SOCKET"] = "relative/notify"
        let child = try ChildProcess.spawn(settings)
        defer { if child.isRunning { child.stop(signal: SIGKILL) } }
        _ = try ServeChild.waitUntilListening(child, timeout: .seconds(30), log: log)
        child.signal(SIGTERM)
        #expect(child.wait(timeout: .seconds(20))?.code == 0)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("NOTIFY_SOCKET is neither an absolute path"), "\(text)")
    }

    /// MemoryDenyWriteExecute=yes: the unit sets it, so the node must run (TLS handshakes, the
    /// HTTP API, the database, a reload and a stop) under the same restriction, applied here by
    /// scripts/deny-write-execute.c (systemd's seccomp filter, and PR_SET_MDWE).
    @Test func theNodeRunsUnderMemoryDenyWriteExecute() throws {
        let compiler = try #require(TestKit.which("clang") ?? TestKit.which("cc"), "no C compiler (clang comes with Swift)")
        let curl = try #require(TestKit.which("curl"), "curl is not installed (scripts/setup.sh installs it)")
        let files = try NodeFiles(entries: 2)
        defer { files.remove() }
        let wrapper = files.root.appendingPathComponent("deny-write-execute").path
        let source = TestKit.repositoryRoot.appendingPathComponent("scripts/deny-write-execute.c").path
        let compiled = try TestKit.run(compiler, ["-O2", "-o", wrapper, source])
        try #require(compiled.status == 0, "\(compiled.stderr)")

        let socket = try NotifySocket(abstract: true)
        let (child, log) = try start(files, socket: socket, wrapper: wrapper)
        defer {
            if child.isRunning { child.stop(signal: SIGKILL) }
            try? FileManager.default.removeItem(atPath: log)
        }
        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        try #require(socket.receive(until: "READY=1") != nil, "no READY=1 under the filter; log:\n\(logText())")
        let health = try TestKit.run(curl, ["-sS", "--max-time", "10", "--cacert", files.pki.caCertificate, "\(files.apiBase)/healthz"])
        #expect(health.status == 0 && health.stdout.contains("\"ok\""), "\(health.stdout) \(health.stderr)")
        let uk = try files.pki.node("uk")
        let checkpoint = try TestKit.run(curl, ["-sS", "--max-time", "10", "--cacert", files.pki.caCertificate, "--cert", uk.certificate,
                                                "--key", uk.key, "\(files.apiBase)/v1/logs/\(files.node)/checkpoint"])
        #expect(checkpoint.stdout.contains("\n2\n"), "\(checkpoint.stdout) \(checkpoint.stderr)")
        child.signal(SIGHUP)
        #expect(socket.receive(until: "RELOADING=1") != nil)
        #expect(socket.receive(until: "READY=1") != nil)
        child.signal(SIGTERM)
        #expect(socket.receive(until: "STOPPING=1") != nil)
        #expect(child.wait(timeout: .seconds(20))?.code == 0, "\(logText())")
        #expect(!logText().contains("Operation not permitted"), "\(logText())")
    }
}

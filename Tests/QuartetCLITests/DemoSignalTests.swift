import Foundation
import QuartetHarness
import QuartetTestKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `quartet demo` (the README's main command) stops its five nodes when a person presses Ctrl-C
/// at its terminal, when it gets SIGTERM, and leaves none behind when it is killed outright.
@Suite(.serialized) struct DemoSignalTests {
    /// Whether `pid` is a running `quartet serve` (not gone, not a zombie, not a reused pid).
    static func nodeRunning(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
        guard state != "Z", state != "X",
              let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
        return String(decoding: cmdline, as: UTF8.self).split(separator: "\0").contains("serve")
    }

    /// The node pids the running demo wrote to demo.json, each checked to be a running node.
    static func nodePids(_ dir: URL) throws -> [Int32] {
        let demo = try DemoDescription.read(FederationLayout(root: dir).demoFile)
        let pids = demo.nodes.compactMap(\.pid)
        #expect(pids.count == 5, "\(demo.nodes)")
        for pid in pids { #expect(nodeRunning(pid), "node pid \(pid) is not running") }
        return pids
    }

    /// Waits up to `timeout` until none of `pids` runs; returns those still running. The waits
    /// here sleep as tasks and never block a thread of the (two-thread) cooperative pool, which
    /// the other suites' async tests need meanwhile.
    static func waitGone(_ pids: [Int32], timeout: Duration) async throws -> [Int32] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let running = pids.filter(nodeRunning)
            if running.isEmpty || ContinuousClock.now >= deadline { return running }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits up to `timeout` until `child` has ended.
    static func waitExit(_ child: ChildProcess, timeout: Duration) async throws -> ChildExit? {
        let deadline = ContinuousClock.now + timeout
        while child.exit == nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return child.exit
    }

    /// Waits up to `timeout` until `text()` contains `marker`, or `child` ends.
    static func waitFor(_ marker: String, in text: () -> String, _ child: ChildProcess, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !text().contains(marker) {
            guard child.isRunning, ContinuousClock.now < deadline else { return text().contains(marker) }
            try await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    static func demoSettings(_ dir: URL) throws -> ChildSettings {
        ChildSettings(executable: try TestKit.quartetBinary().path, arguments: ["demo", "--dir", dir.path, "--no-seed"])
    }

    @Test func ctrlCAtTheTerminalStopsTheDemoAndEveryNode() async throws {
        let dir = try TestKit.temporaryDirectory("demo-ctrl-c")
        defer { try? FileManager.default.removeItem(at: dir) }
        let terminal = try PseudoTerminal()
        var settings = try Self.demoSettings(dir.appendingPathComponent("federation"))
        settings.terminal = terminal.devicePath
        let demo = try ChildProcess.spawn(settings)
        defer { if demo.isRunning { demo.stop(signal: SIGKILL) } }
        var shown = ""
        let started = try await Self.waitFor("Ctrl-C stops it", in: { shown += terminal.readAvailable(); return shown }, demo, timeout: .seconds(120))
        try #require(started, "the demo did not start; the terminal showed:\n\(shown)")
        let pids = try Self.nodePids(dir.appendingPathComponent("federation"))
        // ^C typed at the terminal: the line discipline sends SIGINT to the foreground process group.
        let pressed = ContinuousClock.now
        terminal.type([0x03])
        let exit = try await Self.waitExit(demo, timeout: .seconds(20))
        let stopped = ContinuousClock.now - pressed
        shown += terminal.readAvailable()
        #expect(exit == .exited(0), "the demo did not exit after Ctrl-C (\(String(describing: exit))); it showed:\n\(shown)")
        #expect(shown.contains("stopped"), "\(shown)")
        #expect(try await Self.waitGone(pids, timeout: .seconds(5)) == [], "nodes still running \(stopped) after Ctrl-C")
    }

    @Test(arguments: [SIGTERM, SIGKILL])
    func aSignalledDemoLeavesNoNodeBehind(signal: Int32) async throws {
        let dir = try TestKit.temporaryDirectory("demo-signal")
        defer { try? FileManager.default.removeItem(at: dir) }
        var settings = try Self.demoSettings(dir)
        settings.standardOutput = .capture()
        settings.standardError = .capture()
        let demo = try ChildProcess.spawn(settings)
        defer { if demo.isRunning { demo.stop(signal: SIGKILL) } }
        guard try await Self.waitFor("Ctrl-C stops it", in: { demo.output(1) }, demo, timeout: .seconds(120)) else {
            Issue.record("the demo did not start:\n\(demo.output(1))\(demo.output(2))")
            return
        }
        let pids = try Self.nodePids(dir)
        let sent = ContinuousClock.now
        demo.signal(signal)
        let exit = try await Self.waitExit(demo, timeout: .seconds(20))
        #expect(exit == (signal == SIGKILL ? .signalled(SIGKILL) : .exited(0)), "\(String(describing: exit)); \(demo.output(2))")
        // Killed outright, the demo stops nothing itself: its nodes see their lifeline end.
        #expect(try await Self.waitGone(pids, timeout: .seconds(10)) == [], "nodes still running \(ContinuousClock.now - sent) after signal \(signal)")
        if signal == SIGTERM {
            demo.waitForOutputEnd(timeout: .seconds(5))
            #expect(try await Self.waitFor("stopped", in: { demo.output(1) }, demo, timeout: .seconds(5)), "\(demo.output(1))")
        }
    }
}

import Foundation
import QuartetHarness
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `ChildProcess` and `ProcessSupervisor` against /bin/sh children.
@Suite struct ChildProcessTests {
    func shell(_ script: String) -> ChildSettings {
        var settings = ChildSettings(executable: "/bin/sh", arguments: ["-c", script])
        settings.standardOutput = .capture()
        return settings
    }

    @Test func aChildEndedBySIGTERMReportsIt() throws {
        let child = try ChildProcess.spawn(shell("echo ready; exec sleep 100"))
        #expect(try child.waitForLine(timeout: .seconds(10)) { $0 == "ready" } == "ready")
        #expect(child.isRunning)
        #expect(child.stop(grace: .seconds(10)) == .signalled(SIGTERM))
        #expect(!child.isRunning)
    }

    @Test func aChildIgnoringSIGTERMIsKilledAfterTheGracePeriod() throws {
        // It notes the SIGTERM and goes on: the SIGKILL comes after it, not instead of it.
        let child = try ChildProcess.spawn(shell("trap 'echo got-term' TERM; echo ready; while :; do sleep 0.05; done"))
        _ = try child.waitForLine(timeout: .seconds(10)) { $0 == "ready" }
        #expect(child.stop(grace: .milliseconds(500)) == .signalled(SIGKILL))
        child.waitForOutputEnd(timeout: .seconds(5))
        #expect(child.output().contains("got-term"), "SIGTERM was not sent first: \(child.output())")
    }

    @Test func waitingForALineReportsAnEarlyExit() throws {
        let child = try ChildProcess.spawn(shell("echo not-ready; exit 3"))
        #expect(throws: ChildProcessError.self) { try child.waitForLine(timeout: .seconds(10)) { $0 == "ready" } }
        #expect(child.wait(timeout: .seconds(10)) == .exited(3))
        #expect(child.waitForOutputEnd(timeout: .seconds(10)))
        #expect(child.output() == "not-ready\n")
    }

    @Test func waitingForALineTimesOut() throws {
        let child = try ChildProcess.spawn(shell("exec sleep 100"))
        do {
            _ = try child.waitForLine(timeout: .milliseconds(200)) { _ in true }
            Issue.record("no line was printed, yet the wait succeeded")
        } catch {
            #expect(error.code == .timedOut)
        }
        child.stop()
    }

    @Test func aProgramThatDoesNotExistIsReportedByName() {
        do {
            _ = try ChildProcess.spawn(ChildSettings(executable: "/nonexistent/quartet", arguments: []))
            Issue.record("spawned a program that does not exist")
        } catch {
            #expect(error.code == .spawnFailed && error.message.contains("/nonexistent/quartet"), "\(error)")
        }
    }

    /// Even when the parent blocks SIGTERM (test runners do) and ignores SIGINT, the child starts
    /// with nothing blocked or ignored, in the parent's process group.
    @Test func childrenStartWithDefaultSignalsInTheParentsProcessGroup() throws {
        var block = sigset_t(), previous = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &block, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        // The programs read their own /proc entries (exec keeps the mask and dispositions).
        let status = try ChildProcess.spawn(shell("exec cat /proc/self/status"))
        let stat = try ChildProcess.spawn(shell("exec cat /proc/self/stat"))
        for child in [status, stat] {
            #expect(child.wait(timeout: .seconds(10)) == .exited(0))
            #expect(child.waitForOutputEnd(timeout: .seconds(10)))
        }
        let lines = status.output().split(separator: "\n")
        func mask(_ name: String) -> UInt64? { lines.first { $0.hasPrefix("\(name):") }.flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) } }
        #expect(mask("SigBlk") == 0, "\(lines)")
        // SIGINT and SIGTERM not ignored.
        #expect(mask("SigIgn").map { $0 & (1 << (SIGINT - 1) | 1 << (SIGTERM - 1)) } == 0, "\(lines)")
        let fields = stat.output().split(separator: ")").last?.split(separator: " ") ?? []
        // After the command name: state, ppid, pgrp.
        #expect(fields.count > 3 && Int32(fields[2]) == getpgrp(), "\(stat.output())")
    }

    /// Descriptors the parent has open without close-on-exec (Foundation's pipes) do not reach
    /// the child; the lifeline arrives as descriptor 3 and stays open while the parent lives.
    @Test func onlyTheStandardStreamsAndTheLifelineAreInherited() throws {
        let leaky = Pipe()
        defer { try? leaky.fileHandleForWriting.close() }
        var settings = shell("ls /proc/$$/fd; timeout 0.5 cat <&3; echo status $?")
        settings.lifeline = true
        let child = try ChildProcess.spawn(settings)
        #expect(child.wait(timeout: .seconds(10)) == .exited(0))
        #expect(child.waitForOutputEnd(timeout: .seconds(10)))
        let lines = child.output().split(separator: "\n").map(String.init)
        // `cat` on the lifeline is still waiting when `timeout` ends it (124): no end of file.
        #expect(lines == ["0", "1", "2", "3", "status 124"], "\(lines)")
        _ = leaky
    }

    @Test func theSupervisorStopsEveryChildAndThenStartsNoMore() throws {
        let supervisor = ProcessSupervisor()
        let children = try (0..<3).map { _ in try supervisor.start(shell("echo ready; exec sleep 100")) }
        for child in children { _ = try child.waitForLine(timeout: .seconds(10)) { $0 == "ready" } }
        #expect(supervisor.firstEnded() == nil)
        children[1].signal(SIGKILL)
        #expect(children[1].wait(timeout: .seconds(10)) == .signalled(SIGKILL))
        #expect(supervisor.firstEnded() === children[1])
        #expect(supervisor.stopAll(grace: .seconds(10)) == [.signalled(SIGTERM), .signalled(SIGKILL), .signalled(SIGTERM)])
        #expect(supervisor.isStopping)
        do {
            _ = try supervisor.start(shell("true"))
            Issue.record("a stopping supervisor started a child")
        } catch {
            #expect(error.code == .stopping)
        }
    }

    @Test func standardInputCanBeWrittenAndClosed() throws {
        var settings = shell("cat")
        settings.standardInput = .pipe
        let child = try ChildProcess.spawn(settings)
        child.write(Array("hello\n".utf8))
        child.closeInput()
        #expect(child.wait(timeout: .seconds(10)) == .exited(0))
        #expect(child.waitForOutputEnd(timeout: .seconds(10)))
        #expect(child.output() == "hello\n")
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The children one supervising process runs (the demo's five nodes, a benchmark's nodes, a
/// test's nodes): started in this process's process group with the lifeline, stopped together.
///
/// Children end with the supervisor in every case: `stopAll` stops them (SIGTERM, then SIGKILL
/// after a grace period); a Ctrl-C at the terminal reaches them with this process, as they share
/// its process group; and if this process dies without stopping them (SIGKILL, a crash) they
/// read end of file on their lifeline and stop themselves (`quartet serve --lifeline-fd`).
public final class ProcessSupervisor: @unchecked Sendable {
    private let lock = NSLock()
    // Guarded by `lock`.
    private var children: [ChildProcess] = []
    private var stopping = false

    public init() {}

    /// Starts a child (with the lifeline when `settings.lifeline`). Throws `stopping` once
    /// `stopAll` has begun, so nothing started during a shutdown escapes it.
    public func start(_ settings: ChildSettings) throws(ChildProcessError) -> ChildProcess {
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { throw ChildProcessError(.stopping, "not starting \(settings.executable): the supervisor is stopping") }
        let child = try ChildProcess.spawn(settings)
        children.append(child)
        return child
    }

    /// Whether `stopAll` has begun.
    public var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    /// The first child that has ended, if any.
    public func firstEnded() -> ChildProcess? {
        lock.lock()
        let all = children
        lock.unlock()
        return all.first { !$0.isRunning }
    }

    /// Stops every child: SIGTERM to all at once, then SIGKILL to those still running after
    /// `grace`. Returns when all have ended. Later calls wait for the same children again.
    @discardableResult
    public func stopAll(grace: Duration = .seconds(10)) -> [ChildExit] {
        lock.lock()
        stopping = true
        let all = children
        lock.unlock()
        for child in all { child.signal(SIGTERM) }
        let deadline = ContinuousClock.now + grace
        for child in all { child.wait(timeout: max(.zero, deadline - ContinuousClock.now)) }
        return all.map { $0.stop(signal: SIGKILL, grace: .seconds(5)) }
    }
}

/// How a node is started as a child: `quartet serve --config FILE --lifeline-fd 3`, and the line
/// it prints on standard output when both its ports listen.
public enum ServeChild {
    /// What the ready line contains (`quartet node wales listening: peer 127.0.0.1:7401, api
    /// https://127.0.0.1:8401`; docs/operations.md).
    public static let readyMarker = " listening: peer "

    /// The settings for `executable serve --config config` with the lifeline; `arguments` are
    /// added (`--log-level error`). With `log`, standard error and standard output are appended
    /// to that file (standard output also captured, for the ready line); without, standard
    /// error is discarded.
    public static func settings(executable: String, config: String, arguments: [String] = [], log: String? = nil) -> ChildSettings {
        var settings = ChildSettings(executable: executable,
                                     arguments: ["serve", "--config", config, "--lifeline-fd", "\(Lifeline.childDescriptor)"] + arguments)
        settings.lifeline = true
        settings.standardOutput = .capture(copyTo: log)
        settings.standardError = log.map { .file($0) } ?? .null
        return settings
    }

    /// Waits for the node's ready line and returns it. When the node exits first or does not
    /// listen within `timeout` (then it is killed), the error says how it ended and, when `log`
    /// is given, ends with the log's last lines.
    public static func waitUntilListening(_ child: ChildProcess, timeout: Duration, log: String? = nil) throws(ChildProcessError) -> String {
        do {
            return try child.waitForLine(timeout: timeout) { $0.contains(readyMarker) }
        } catch let error where error.code == .exitedEarly {
            let exit = child.wait(timeout: .seconds(5)).map { "\($0)" } ?? "closed its standard output"
            throw ChildProcessError(.exitedEarly, "\(child.commandLine) \(exit) before listening\(tail(log))")
        } catch {
            child.stop(signal: SIGKILL)
            throw ChildProcessError(.timedOut, "\(child.commandLine) did not listen within \(timeout.seconds) s\(tail(log))")
        }
    }

    /// The last lines of a log file, for an error message.
    public static func tail(_ log: String?) -> String {
        guard let log, let text = try? String(contentsOfFile: log, encoding: .utf8) else { return "" }
        let lines = text.split(separator: "\n").suffix(40)
        return lines.isEmpty ? "; \(log) is empty" : "; the end of \(log):\n" + lines.joined(separator: "\n")
    }
}

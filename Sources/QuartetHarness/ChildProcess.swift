internal import CQuartetHarness
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One child process started with `posix_spawn`: its pid, its captured output, waiting for it
/// and stopping it (SIGTERM, then SIGKILL after a grace period).
///
/// Not Foundation's `Process`: that one puts each child in a session of its own (so a Ctrl-C at
/// the terminal never reaches it), lets the child inherit this process's blocked signals (test
/// runners block SIGTERM) and has no way to hand the child a lifeline. Here the child stays in
/// this process's process group, starts with no signal blocked and SIGINT/SIGTERM at their
/// defaults, and inherits no file descriptor but 0, 1, 2 and the lifeline.
///
/// The child is reaped by `waitpid` on its own pid only, so it coexists with `Process`.
public final class ChildProcess: @unchecked Sendable {
    /// The program `name` on PATH (`/usr/bin:/bin` when PATH is unset), if there is one.
    public static func onPath(_ name: String) -> URL? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let url = URL(fileURLWithPath: String(dir)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }

    /// The child's process id.
    public let pid: Int32
    /// What it was started as (for messages).
    public let commandLine: String

    private let condition = NSCondition()
    // Guarded by `condition`.
    private var exitStatus: ChildExit?
    private var captured: [Int32: Data] = [:]
    private var openCaptures = 0
    private var inputDescriptor: Int32 = -1

    private init(pid: Int32, commandLine: String) {
        self.pid = pid
        self.commandLine = commandLine
    }

    /// Starts a child. Throws `ChildProcessError` (`spawnFailed`) naming the program and the
    /// reason when it cannot be started.
    public static func spawn(_ settings: ChildSettings) throws(ChildProcessError) -> ChildProcess {
        let commandLine = ([settings.executable] + settings.arguments).joined(separator: " ")
        func failure(_ what: String, _ code: Int32) -> ChildProcessError {
            ChildProcessError(.spawnFailed, "cannot start \(settings.executable): \(what): \(String(cString: strerror(code)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        // Descriptors this process opens for the child, closed here once it is started; the
        // ones this process keeps (capture read ends, the input write end) are CLOEXEC.
        var closeAfterSpawn: [Int32] = []
        var captures: [(fd: Int32, stream: Int32, copy: Int32)] = []
        var inputWriteEnd: Int32 = -1
        func cleanUp() {
            for fd in closeAfterSpawn { close(fd) }
            for capture in captures {
                close(capture.fd)
                if capture.copy >= 0 { close(capture.copy) }
            }
            if inputWriteEnd >= 0 { close(inputWriteEnd) }
        }
        func open(_ path: String, _ flags: Int32) throws(ChildProcessError) -> Int32 {
            let fd = Glibc.open(path, flags | O_CLOEXEC, 0o644)
            guard fd >= 0 else { let code = errno; cleanUp(); throw failure("cannot open \(path)", code) }
            return fd
        }
        func pipe() throws(ChildProcessError) -> (read: Int32, write: Int32) {
            var ends: [Int32] = [0, 0]
            guard quartet_pipe_cloexec(&ends) == 0 else { let code = errno; cleanUp(); throw failure("pipe", code) }
            return (ends[0], ends[1])
        }

        if let terminal = settings.terminal {
            // A new session (POSIX_SPAWN_SETSID, applied before the file actions); opening the
            // terminal without O_NOCTTY then makes it the session's controlling terminal.
            posix_spawn_file_actions_addopen(&actions, 0, terminal, O_RDWR, 0)
            posix_spawn_file_actions_adddup2(&actions, 0, 1)
            posix_spawn_file_actions_adddup2(&actions, 0, 2)
        } else {
            switch settings.standardInput {
            case .null:
                let fd = try open("/dev/null", O_RDONLY)
                closeAfterSpawn.append(fd)
                posix_spawn_file_actions_adddup2(&actions, fd, 0)
            case .pipe:
                let ends = try pipe()
                closeAfterSpawn.append(ends.read)
                inputWriteEnd = ends.write
                posix_spawn_file_actions_adddup2(&actions, ends.read, 0)
            }
            for (stream, output) in [(Int32(1), settings.standardOutput), (Int32(2), settings.standardError)] {
                switch output {
                case .inherit:
                    break
                case .null:
                    let fd = try open("/dev/null", O_WRONLY)
                    closeAfterSpawn.append(fd)
                    posix_spawn_file_actions_adddup2(&actions, fd, stream)
                case .file(let path):
                    let fd = try open(path, O_WRONLY | O_CREAT | O_APPEND)
                    closeAfterSpawn.append(fd)
                    posix_spawn_file_actions_adddup2(&actions, fd, stream)
                case .capture(let copyTo):
                    var copy: Int32 = -1
                    if let copyTo { copy = try open(copyTo, O_WRONLY | O_CREAT | O_APPEND) }
                    let ends: (read: Int32, write: Int32)
                    do { ends = try pipe() } catch {
                        if copy >= 0 { close(copy) }
                        throw error
                    }
                    closeAfterSpawn.append(ends.write)
                    captures.append((ends.read, stream, copy))
                    posix_spawn_file_actions_adddup2(&actions, ends.write, stream)
                }
            }
        }
        if settings.lifeline {
            // dup2 clears FD_CLOEXEC on the copy; the shared read end is ≥ 10, never 3 itself.
            posix_spawn_file_actions_adddup2(&actions, Lifeline.shared.readEnd, Lifeline.childDescriptor)
        }
        // Nothing else of this process's reaches the child (Foundation's pipes are not CLOEXEC).
        quartet_spawn_file_actions_addclosefrom(&actions, settings.lifeline ? Lifeline.childDescriptor + 1 : 3)

        // No signal blocked, SIGINT and SIGTERM at their defaults, whatever this process has (a
        // shell ignores SIGINT for `cmd &`; test runners block SIGTERM). Other dispositions are
        // inherited as exec passes them on.
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags: Int32 = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if settings.terminal != nil { flags |= Int32(quartet_spawn_setsid_flag()) }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var environment = ProcessInfo.processInfo.environment
        for (key, value) in settings.environment { environment[key] = value }
        let argv = ([settings.executable] + settings.arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, settings.executable, &actions, &attributes, argv, envp)
        for fd in closeAfterSpawn { close(fd) }
        closeAfterSpawn = []
        guard result == 0 else {
            cleanUp()
            throw failure("posix_spawn", result)
        }
        let child = ChildProcess(pid: pid, commandLine: commandLine)
        child.inputDescriptor = inputWriteEnd
        // Every stream's buffer exists before any drain thread starts: a thread appends under
        // the lock while another key added here unlocked would move the dictionary's storage
        // under it (a heap corruption seen as intermittent crashes in unrelated deinits).
        child.condition.lock()
        child.openCaptures = captures.count
        for capture in captures { child.captured[capture.stream] = Data() }
        child.condition.unlock()
        for capture in captures {
            let thread = Thread { child.drain(capture.fd, stream: capture.stream, copy: capture.copy) }
            thread.name = "quartet-child-\(pid)-\(capture.stream)"
            thread.start()
        }
        return child
    }

    /// Reads one captured stream to its end.
    private func drain(_ fd: Int32, stream: Int32, copy: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            if copy >= 0 {
                var written = 0
                while written < count {
                    let n = buffer.withUnsafeBytes { Glibc.write(copy, $0.baseAddress! + written, count - written) }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    written += n
                }
            }
            condition.lock()
            captured[stream, default: Data()].append(contentsOf: buffer[0..<count])
            condition.broadcast()
            condition.unlock()
        }
        close(fd)
        if copy >= 0 { close(copy) }
        condition.lock()
        openCaptures -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// What the child has written so far to a captured stream (1: standard output, 2: standard
    /// error), as UTF-8; empty for a stream that is not captured.
    public func output(_ stream: Int32 = 1) -> String {
        condition.lock()
        defer { condition.unlock() }
        return String(decoding: captured[stream] ?? Data(), as: UTF8.self)
    }

    /// Waits up to `timeout` until every captured stream has ended (the child and anything it
    /// started have closed them), so `output` holds everything; false on timeout.
    @discardableResult
    public func waitForOutputEnd(timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        condition.lock()
        defer { condition.unlock() }
        while openCaptures > 0 {
            guard condition.wait(until: deadline) else { return false }
        }
        return true
    }

    /// Waits until a captured stream holds a whole line for which `matches` is true, and returns
    /// it. Throws `exitedEarly` when the stream ends first (the child exited), `timedOut` after
    /// `timeout`.
    public func waitForLine(on stream: Int32 = 1, timeout: Duration, where matches: (Substring) -> Bool) throws(ChildProcessError) -> String {
        let deadline = Date().addingTimeInterval(timeout.seconds)
        condition.lock()
        defer { condition.unlock() }
        var searched = 0
        while true {
            let data = captured[stream] ?? Data()
            if let last = data.lastIndex(of: UInt8(ascii: "\n")), last >= searched {
                let text = String(decoding: data[searched...last], as: UTF8.self)
                if let line = text.split(separator: "\n").first(where: matches) { return String(line) }
                searched = last + 1
            }
            if openCaptures == 0 || captured[stream] == nil {
                throw ChildProcessError(.exitedEarly, "\(commandLine) ended its output before the line waited for")
            }
            guard condition.wait(until: deadline) else {
                throw ChildProcessError(.timedOut, "\(commandLine) did not print the line waited for within \(timeout.seconds) s")
            }
        }
    }

    /// Writes to the child's standard input (started with `.pipe`).
    public func write(_ bytes: [UInt8]) {
        // A descriptor of its own: `closeInput` on another thread may close the shared one, and
        // its number be reused for another file before the write.
        condition.lock()
        let fd = inputDescriptor >= 0 ? fcntl(inputDescriptor, F_DUPFD_CLOEXEC, 0) : -1
        condition.unlock()
        guard fd >= 0 else { return }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            written += n
        }
    }

    /// Closes the child's standard input (started with `.pipe`), so it reads end of file.
    public func closeInput() {
        condition.lock()
        defer { condition.unlock() }
        if inputDescriptor >= 0 { close(inputDescriptor) }
        inputDescriptor = -1
    }

    /// How it ended, or nil while it runs (reaps it when it has ended).
    public var exit: ChildExit? {
        condition.lock()
        defer { condition.unlock() }
        return reap(blocking: false)
    }

    public var isRunning: Bool { exit == nil }

    /// Caller holds `condition`.
    private func reap(blocking: Bool) -> ChildExit? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, blocking ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        if result == pid {
            // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
            exitStatus = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
        } else if result < 0 {
            // ECHILD: someone else reaped it; it has ended, how is unknown.
            exitStatus = .exited(-1)
        }
        return exitStatus
    }

    /// Waits up to `timeout` for the child to end; nil if it still runs.
    @discardableResult
    public func wait(timeout: Duration) -> ChildExit? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let exit { return exit }
            guard ContinuousClock.now < deadline else { return nil }
            usleep(10_000)
        }
    }

    /// Sends a signal (nothing once it has been reaped).
    public func signal(_ signal: Int32) {
        condition.lock()
        defer { condition.unlock() }
        if reap(blocking: false) == nil { kill(pid, signal) }
    }

    /// Stops the child: `signal` (default SIGTERM), then SIGKILL if it has not ended within
    /// `grace`; returns how it ended.
    @discardableResult
    public func stop(signal first: Int32 = SIGTERM, grace: Duration = .seconds(10)) -> ChildExit {
        signal(first)
        if let exit = wait(timeout: grace) { return exit }
        signal(SIGKILL)
        condition.lock()
        defer { condition.unlock() }
        return reap(blocking: true)!
    }

    deinit {
        // A child nobody stopped is not left behind.
        if reap(blocking: false) == nil {
            kill(pid, SIGKILL)
            _ = reap(blocking: true)
        }
        if inputDescriptor >= 0 { close(inputDescriptor) }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a child process is started with. Every default is the quiet one: standard input from
/// `/dev/null`, output discarded, no lifeline, the parent's environment and process group.
public struct ChildSettings: Sendable {
    /// Where a child's standard input comes from.
    public enum Input: Sendable {
        /// `/dev/null` (the default).
        case null
        /// A pipe this process writes with `ChildProcess.write(_:)` and closes with `closeInput()`.
        case pipe
    }

    /// Where a child's standard output or standard error goes.
    public enum Output: Sendable {
        /// `/dev/null` (the default).
        case null
        /// This process's own stream.
        case inherit
        /// Appended to the file (created if missing).
        case file(String)
        /// Read by this process (`ChildProcess.output`, `waitForLine`), and appended to the file
        /// `copyTo` as it arrives when one is given.
        case capture(copyTo: String? = nil)
    }

    /// The program (an absolute path) and its arguments.
    public var executable: String
    public var arguments: [String]
    /// Variables set over this process's environment (default: none; the environment is inherited).
    public var environment: [String: String] = [:]
    public var standardInput: Input = .null
    public var standardOutput: Output = .null
    public var standardError: Output = .null
    /// Give the child, as file descriptor `Lifeline.childDescriptor`, the read end of this
    /// process's lifeline (see `Lifeline`); the child must be told to watch it (`quartet serve
    /// --lifeline-fd 3`). Default: false.
    public var lifeline = false
    /// Start the child as the leader of a new session whose controlling terminal is this
    /// terminal device (its standard input, output and error), as a login shell runs under a
    /// terminal; for driving a program through a pseudo-terminal. Default: nil (the child stays
    /// in this process's session and process group, so a Ctrl-C at this process's terminal
    /// reaches it too).
    public var terminal: String?

    public init(executable: String, arguments: [String]) {
        self.executable = executable
        self.arguments = arguments
    }
}

/// How a child ended.
public enum ChildExit: Sendable, Equatable, CustomStringConvertible {
    /// It exited with this status.
    case exited(Int32)
    /// A signal ended it.
    case signalled(Int32)

    /// The exit status, or the number of the signal that ended it (what Foundation's
    /// `Process.terminationStatus` reports).
    public var code: Int32 {
        switch self {
        case .exited(let status), .signalled(let status): return status
        }
    }

    public var description: String {
        switch self {
        case .exited(let status): return "exited with status \(status)"
        case .signalled(let signal): return "ended by signal \(signal)"
        }
    }
}

/// A child process could not be started or did not do what was waited for.
public struct ChildProcessError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// `posix_spawn` (or a pipe or file it needed) failed.
        case spawnFailed
        /// The child exited before printing the line waited for.
        case exitedEarly
        /// The line did not come within the timeout.
        case timedOut
        /// The supervisor is stopping and starts nothing more.
        case stopping
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

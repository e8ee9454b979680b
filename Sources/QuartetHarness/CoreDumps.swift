internal import CQuartetHarness
#if canImport(Glibc)
import Glibc
#endif

/// Keeps a daemon's memory — its signing keys, tokens' digests, restricted rows it holds — out
/// of core files and away from other processes of its user: no core dump (RLIMIT_CORE 0, hard
/// limit too, so a child cannot raise it) and not dumpable (no ptrace attach, no
/// `/proc/<pid>/mem`, and the kernel writes no core even where a pipe collects them).
/// (The Swift runtime's crash backtrace is read by a helper process, which a process that is not
/// dumpable admits only with CAP_SYS_PTRACE: `quartet serve --allow-core-dumps` when debugging.)
public enum CoreDumps {
    /// Forbids core dumps of this process from now on; throws with the system's reason.
    public static func forbid() throws(CoreDumpsError) {
        guard quartet_forbid_core_dumps() == 0 else { throw CoreDumpsError(reason: String(cString: strerror(errno))) }
        // Asked back: a kernel that took the call and left the process dumpable is a failure too.
        guard !dumpable else { throw CoreDumpsError(reason: "the process is still dumpable after PR_SET_DUMPABLE 0") }
    }

    /// Whether this process may be dumped (and read by other processes of its user).
    public static var dumpable: Bool { quartet_is_dumpable() != 0 }
}

public struct CoreDumpsError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { "cannot forbid core dumps: \(reason)" }
}

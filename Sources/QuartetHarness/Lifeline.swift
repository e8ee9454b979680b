internal import CQuartetHarness
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a child learns that the process that started it has ended, however it ended (SIGKILL
/// included): a pipe whose write end only the supervising process holds. Its children get the
/// read end as descriptor 3 and watch it; when the supervising process ends, the kernel closes
/// the write end and every child reads end of file.
///
/// Why a pipe and not `prctl(PR_SET_PDEATHSIG)`: the death signal is tied to the *thread* that
/// forked the child, not to the process, so a child started from a Swift concurrency or Dispatch
/// worker thread would be signalled whenever that thread retires, with the parent alive; and it
/// must be set in the child between fork and exec (or by the child, racing its parent's death).
/// A pipe's write end lives exactly as long as the process holding it, is passed across `exec`
/// as an ordinary descriptor, and a child whose parent died before it started reads end of file
/// at once. The write end is close-on-exec, so no other child holds it and keeps it open.
public final class Lifeline: Sendable {
    /// The descriptor a child receives the read end as (`quartet serve --lifeline-fd 3`).
    public static let childDescriptor: Int32 = 3
    /// This process's lifeline, made on first use and never closed.
    public static let shared = Lifeline()

    /// The read end (≥ 10, close-on-exec), duplicated onto `childDescriptor` in each child.
    let readEnd: Int32
    private let writeEnd: Int32

    private init() {
        var ends: [Int32] = [0, 0]
        guard quartet_pipe_cloexec(&ends) == 0 else { fatalError("cannot make the lifeline pipe: \(String(cString: strerror(errno)))") }
        // Kept above the descriptors a child's file actions write to (0–3), so the dup2 onto 3
        // always makes a copy (which clears close-on-exec) rather than being a no-op.
        readEnd = fcntl(ends[0], F_DUPFD_CLOEXEC, 10)
        writeEnd = fcntl(ends[1], F_DUPFD_CLOEXEC, 10)
        guard readEnd >= 0, writeEnd >= 0 else { fatalError("cannot move the lifeline pipe: \(String(cString: strerror(errno)))") }
        close(ends[0])
        close(ends[1])
    }

    /// The child's side: watches `descriptor` on a thread of its own and, when it reads end of
    /// file (the supervising process has ended), calls `parentEnded` once. Throws when the
    /// descriptor is not open.
    public static func watch(descriptor: Int32, parentEnded: @escaping @Sendable () -> Void) throws(ChildProcessError) {
        guard fcntl(descriptor, F_GETFD) >= 0 else {
            throw ChildProcessError(.spawnFailed, "lifeline descriptor \(descriptor) is not open")
        }
        // Not inherited by anything this process starts.
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        let thread = Thread {
            var byte: UInt8 = 0
            while true {
                let n = read(descriptor, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
            }
            parentEnded()
        }
        thread.name = "quartet-lifeline"
        thread.start()
    }

    /// The usual reaction of a child: ask itself to stop gracefully (SIGTERM to its own process,
    /// the path a supervisor's SIGTERM takes), and end at once with status 1 if that has not
    /// ended it within `grace`. Call from `watch`'s closure.
    public static func stopSelf(grace: Duration) -> Never {
        kill(getpid(), SIGTERM)
        Thread.sleep(forTimeInterval: grace.seconds)
        _exit(1)
    }
}

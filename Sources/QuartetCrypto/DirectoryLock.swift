import Glibc

/// An exclusive `flock` on a directory, for a command that reads a file there, changes it and
/// writes it back (`pki revoke`'s list, `federation sign`'s signatures): two at once would each
/// write what it read, and the last one's would drop the other's change. The directory itself is
/// the lock: nothing is left behind. Any user who may read the directory can take it too (flock
/// asks no more), so a directory others can read may be held by them: the refusal says so.
public final class DirectoryLock {
    private var descriptor: Int32

    /// Takes the lock on `path`, waiting up to two seconds, then refuses with `busy`: a lock
    /// seen held for a moment is not only another command's — a process this one forks (a test
    /// runner's) holds a copy of the descriptor until it execs.
    public init(_ path: String, busy: String) throws(PKIError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw PKIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        var locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        for _ in 0..<40 where !locked {
            usleep(50_000)
            locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        }
        guard locked else {
            close(fd)
            throw PKIError(busy + " (the lock is on the folder \(path): a process of any user who can read it may hold it)")
        }
        descriptor = fd
    }

    /// Gives the lock back (once; also when the lock is dropped).
    public func release() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    deinit { release() }
}

import Glibc

/// Reads files a process is handed (keys, requests, federation files, a data directory's small
/// files) as regular files of bounded size: a FIFO or a device would block the open or never
/// end, a file larger than anything of its kind is refused before it is read, and, where asked,
/// a symlink is not followed (a root-run command copying a directory another user can write
/// must not read what a planted link points at).
public enum RegularFile {
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// It cannot be opened: the system's reason (a symlink not followed says so).
        case cannotOpen(String)
        /// It is not a regular file (a directory, FIFO, device or socket).
        case notRegular
        /// It is larger than `limit` bytes (its size when known).
        case tooLarge(size: Int, limit: Int)
        /// Reading it failed: the system's reason.
        case cannotRead(String)

        public var description: String {
            switch self {
            case .cannotOpen(let reason): "cannot open it: \(reason)"
            case .notRegular: "it is not a regular file"
            case .tooLarge(let size, let limit): "it is \(size) bytes, over the \(limit) read"
            case .cannotRead(let reason): "cannot read it: \(reason)"
            }
        }
    }

    /// The text (UTF-8) of the regular file at `path`, at most `limit` bytes: a key or a
    /// small configuration file.
    public static func readText(_ path: String, limit: Int, followSymlinks: Bool = true) throws(Failure) -> String {
        let bytes = try read(path, limit: limit, followSymlinks: followSymlinks)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .cannotRead("it is not UTF-8 text") }
        return text
    }

    /// The bytes of the regular file at `path`, at most `limit` of them (refused, not cut, when
    /// larger, even if it grows while it is read). `followSymlinks` false: a symlink at `path`
    /// is refused.
    public static func read(_ path: String, limit: Int, followSymlinks: Bool = true) throws(Failure) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a file).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followSymlinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else {
            let reason = errno == ELOOP && !followSymlinks ? "it is a symlink, which is not followed" : String(cString: strerror(errno))
            throw .cannotOpen(reason)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw .notRegular }
        guard info.st_size <= limit else { throw .tooLarge(size: Int(info.st_size), limit: limit) }
        // At most limit + 1 bytes, whatever fstat said, in case the file grows meanwhile; room
        // for what fstat said and one byte more, grown only if it did grow.
        var bytes = [UInt8](repeating: 0, count: min(limit, Int(info.st_size)) + 1), count = 0
        while true {
            if count == bytes.count {
                guard bytes.count <= limit else { break }
                bytes += [UInt8](repeating: 0, count: min(limit + 1, bytes.count * 2) - bytes.count)
            }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .cannotRead(String(cString: strerror(errno))) }
            if n == 0 { break }
            count += n
        }
        guard count <= limit else { throw .tooLarge(size: count, limit: limit) }
        return Array(bytes.prefix(count))
    }

    /// Why `writeDurably` could not make a file: the path and the system's reason.
    public struct WriteFailure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Writes `bytes` as the file at `path` with `mode`, created with it (never readable by
    /// others, even briefly), never through a symlink, over an existing file only when
    /// `replacing`, and flushed to the disk with its directory entry before it returns: keys and
    /// the small files beside them, which a power cut must not leave empty or missing. A file
    /// replaced is written beside it and renamed over it, so a crash leaves the old file or the
    /// new one, never a part of either.
    public static func writeDurably(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600, replacing: Bool = false) throws(WriteFailure) {
        func failure(_ what: String, _ at: String) -> WriteFailure { WriteFailure(description: "cannot \(what) \(at): \(String(cString: strerror(errno)))") }
        // Written where it is going, or (replacing) beside it first; a copy left by a crash
        // mid-write is removed, never written through.
        let target = replacing ? path + ".partial" : path
        if replacing, unlink(target) != 0, errno != ENOENT { throw failure("remove", target) }
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw failure("create", target) }
        var closed = false
        defer { if !closed { close(fd) } }
        // The mode before the bytes (the umask narrowed it at creation).
        guard fchmod(fd, mode) == 0 else { throw failure("set the mode of", target) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failure("write", target) }
            done += n
        }
        guard fsync(fd) == 0 else { throw failure("write", target) }
        closed = true
        guard close(fd) == 0 else { throw failure("write", target) }
        if replacing {
            guard rename(target, path) == 0 else {
                let error = failure("replace", path)
                unlink(target)
                throw error
            }
        }
        // The directory entry too: without it a power cut can lose the file whole.
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw failure("open the folder", directory) }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw failure("flush the folder", directory) }
    }
}

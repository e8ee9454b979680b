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
        /// The caller's `inspect` refused the file opened (its owner or mode): its reason.
        case refused(String)

        public var description: String {
            switch self {
            case .cannotOpen(let reason): "cannot open it: \(reason)"
            case .notRegular: "it is not a regular file"
            case .tooLarge(let size, let limit): "it is \(size) bytes, over the \(limit) read"
            case .cannotRead(let reason): "cannot read it: \(reason)"
            case .refused(let reason): reason
            }
        }
    }

    /// The text (UTF-8) of the regular file at `path`, at most `limit` bytes: a key or a
    /// small configuration file.
    public static func readText(_ path: String, limit: Int, followSymlinks: Bool = true, inspect: ((stat) -> String?)? = nil) throws(Failure) -> String {
        let bytes = try read(path, limit: limit, followSymlinks: followSymlinks, inspect: inspect)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .cannotRead("it is not UTF-8 text") }
        return text
    }

    /// The bytes of the regular file at `path`, at most `limit` of them (refused, not cut, when
    /// larger, even if it grows while it is read). `followSymlinks` false: a symlink at `path`
    /// is refused. `inspect` judges the file opened (its `fstat`): a reason refuses it — an
    /// owner or mode checked on the descriptor read, not on a path that could be swapped
    /// between the check and the open.
    public static func read(_ path: String, limit: Int, followSymlinks: Bool = true, inspect: ((stat) -> String?)? = nil) throws(Failure) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a file).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followSymlinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else {
            let reason = errno == ELOOP && !followSymlinks ? "it is a symlink, which is not followed" : String(cString: strerror(errno))
            throw .cannotOpen(reason)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw .notRegular }
        if let reason = inspect?(info) { throw .refused(reason) }
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

    /// Opens the regular file at `path` to append to it (created with `mode` when `create` and
    /// it is not there), never through a symlink (ELOOP) and never a FIFO, device or directory
    /// (ENXIO for a FIFO no one reads, else EINVAL): a planted FIFO would block the open, and
    /// the writes of whoever holds a lock meanwhile. The descriptor (blocking), or -1 with
    /// `errno` set.
    public static func openForAppending(_ path: String, create: Bool, mode: mode_t = 0o600) -> Int32 {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0), mode)
        guard fd >= 0 else { return -1 }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            errno = EINVAL
            return -1
        }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else {
            let code = errno
            close(fd)
            errno = code
            return -1
        }
        return fd
    }

    /// Why `writeDurably` could not make a file: the path and the system's reason.
    public struct WriteFailure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Whether `name` is a copy `writeDurably` writes beside a file before placing it
    /// (`<file>.partial-` and 16 lower-case hex digits): what a crash mid-write leaves.
    public static func isPartialCopy(_ name: String) -> Bool {
        let bytes = Array(name.utf8), marker = Array(".partial-".utf8)
        guard bytes.count > marker.count + 16 else { return false }
        let start = bytes.count - 16 - marker.count
        return Array(bytes[start..<(start + marker.count)]) == marker
            && bytes[(start + marker.count)...].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// Removes the copies a crash left in `directory` mid-`writeDurably` (regular files only,
    /// never through a link); the caller must hold what keeps other writers out of it (a data
    /// directory's writer lock). Returns the names removed.
    @discardableResult
    public static func removePartialCopies(in directory: String) -> [String] {
        var names: [String] = []
        if let handle = opendir(directory) {
            while let entry = readdir(handle) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                names.append(name)
            }
            closedir(handle)
        }
        var removed: [String] = []
        for name in names where isPartialCopy(name) {
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, unlink(path) == 0 else { continue }
            removed.append(name)
        }
        return removed
    }

    /// Writes `bytes` as the file at `path` with `mode`, created with it (never readable by
    /// others, even briefly), never through a symlink, over an existing file only when
    /// `replacing`, and flushed to the disk with its directory entry before it returns: keys and
    /// the small files beside them, which a power cut must not leave empty or missing. The bytes
    /// are written beside it first (`.partial-` and a random name of its own, so two writers
    /// never share one) and then linked into place (refused if a file is there; on a file
    /// system without hard links, such as FAT, renamed once nothing is there) or, replacing,
    /// renamed over it: a crash leaves the old file or the new one, never a part of either, and
    /// never a partial file where a later write would refuse to go.
    /// `owner`: given to the new file before its bytes (only root may give a file away; for
    /// anyone else the file stays theirs).
    public static func writeDurably(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600, replacing: Bool = false,
                                    owner: (uid: uid_t, gid: gid_t)? = nil) throws(WriteFailure) {
        func failure(_ what: String, _ at: String, _ code: Int32 = errno) -> WriteFailure {
            WriteFailure(description: "cannot \(what) \(at): \(String(cString: strerror(code)))")
        }
        var existing = stat()
        if !replacing, lstat(path, &existing) == 0 { throw failure("create", path, EEXIST) }
        guard let random = try? SecureRandom.bytes(count: 8) else { throw failure("name a file beside", path, EAGAIN) }
        let partial = path + ".partial-" + random.map { String($0 >> 4, radix: 16) + String($0 & 15, radix: 16) }.joined()
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw failure("create", partial) }
        var placed = false
        defer { if !placed { unlink(partial) } }
        do {
            var closed = false
            defer { if !closed { close(fd) } }
            // The owner and mode before the bytes (the umask narrowed the mode at creation).
            if let owner { _ = fchown(fd, owner.uid, owner.gid) }
            guard fchmod(fd, mode) == 0 else { throw failure("set the mode of", partial) }
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw failure("write", partial) }
                done += n
            }
            guard fsync(fd) == 0 else { throw failure("write", partial) }
            closed = true
            guard close(fd) == 0 else { throw failure("write", partial) }
        }
        if replacing {
            guard rename(partial, path) == 0 else { throw failure("replace", path) }
        } else {
            // A link, not a rename: a file that appeared at `path` meanwhile is not replaced.
            if link(partial, path) != 0 {
                let code = errno
                guard [EPERM, EOPNOTSUPP, ENOSYS].contains(code) else { throw failure("create", path, code) }
                // No hard links here: renamed, after the check a link would have made.
                var info = stat()
                guard lstat(path, &info) != 0 else { throw failure("create", path, EEXIST) }
                guard rename(partial, path) == 0 else { throw failure("create", path) }
            } else {
                unlink(partial)
            }
        }
        placed = true
        // The directory entry too: without it a power cut can lose the file whole.
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw failure("open the folder", directory) }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw failure("flush the folder", directory) }
    }

    /// Makes the directory `path` (and any missing parent) with `mode`, each made one's entry
    /// synced into its parent: a file synced inside a new directory survives a power cut only
    /// if the directory's own entry does (a data directory's signing key, the owner's key that
    /// `agreement keygen` made, the CA's: each printed, then pinned by others). Nothing is done
    /// to a directory that exists.
    public static func makeDirectoryDurably(_ path: String, mode: mode_t = 0o700) throws(WriteFailure) {
        func parent(_ path: Substring) -> Substring {
            guard let slash = path.lastIndex(of: "/") else { return "." }
            return slash == path.startIndex ? "/" : path[..<slash]
        }
        func failure(_ what: String, _ at: Substring, _ code: Int32 = errno) -> WriteFailure {
            WriteFailure(description: "cannot make the directory \(path): \(what) \(at): \(String(cString: strerror(code)))")
        }
        var cursor = Substring(path)
        while cursor.count > 1, cursor.hasSuffix("/") { cursor = cursor.dropLast() }
        var missing: [Substring] = []
        var info = stat()
        while cursor != "/", cursor != ".", !cursor.isEmpty, stat(String(cursor), &info) != 0 {
            guard errno == ENOENT else { throw failure("cannot look at", cursor) }
            missing.append(cursor)
            cursor = parent(cursor)
        }
        // What is there already must be a directory (a file in the way is this error, not a
        // later one about a file inside it).
        if cursor != "/", cursor != ".", !cursor.isEmpty {
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw failure("it is not a directory:", cursor, ENOTDIR) }
        }
        // Outermost first; the mode set exactly on the directory made (the umask narrowed it),
        // through a descriptor of it, not its name (a link put there meanwhile is not followed).
        for directory in missing.reversed() {
            if mkdir(String(directory), mode) != 0 {
                guard errno == EEXIST, lstat(String(directory), &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { throw failure("cannot make", directory) }
                continue
            }
            let fd = open(String(directory), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw failure("cannot open", directory) }
            defer { close(fd) }
            guard fchmod(fd, mode) == 0 else { throw failure("cannot set the mode of", directory) }
        }
        // Each made directory's entry, in its parent (the outermost's parent existed before).
        for directory in missing {
            let fd = open(String(parent(directory)), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0 else { throw failure("cannot open", parent(directory)) }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw failure("cannot sync", parent(directory)) }
        }
    }
}

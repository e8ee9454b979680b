import Foundation
import QuartetCrypto
import QuartetLedger
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The files of one node's data: `quartet.sqlite` (every log it holds, own and replicas) and
/// `keys/<log>.pem` (the signing key of each log it writes, PKCS#8 PEM, mode 0600).
public struct DataDirectory: Sendable {
    /// The directory.
    public let url: URL

    public init(path: String) {
        url = URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
    }

    /// The SQLite database.
    public var databasePath: String { url.appendingPathComponent("quartet.sqlite").path }
    /// Where signing keys live.
    public var keysPath: String { url.appendingPathComponent("keys").path }
    /// The writer lock file.
    public var lockPath: String { url.appendingPathComponent("writer.lock").path }
    /// The SQLite files whose owner and mode are checked: the ledger's and the submissions'
    /// (`SubmissionStore`: it names credentials by their digests), each with its -wal and -shm.
    var databaseFiles: [String] {
        [databasePath, SubmissionStore.path(self)].flatMap { [$0, $0 + "-wal", $0 + "-shm"] }
    }
    /// Its name in the directory.
    public static let lockFileName = "writer.lock"

    /// Removes what a crash left mid-write beside the directory's small files and keys
    /// (`RegularFile.writeDurably`'s `.partial-` copies: keys' among them, the witness's and the
    /// evidence's too), with the writer lock held (no other writer is at work).
    func removePartialCopies() {
        RegularFile.removePartialCopies(in: url.path)
        RegularFile.removePartialCopies(in: keysPath)
        RegularFile.removePartialCopies(in: url.appendingPathComponent("witness").path)
        RegularFile.removePartialCopies(in: url.appendingPathComponent("evidence").path)
    }

    /// Removes everything in the directory but its lock file, holding the writer lock meanwhile
    /// (for what an interrupted `quartet recover` left): refused (`.locked`) while a process
    /// holds the directory, and an entry that cannot be removed is an error.
    /// `last`: markers that say the directory is unfinished (`RECOVERING`), removed only once
    /// everything else is (`clear`).
    public func clearHoldingLock(last: Set<String> = []) throws(StoreError) {
        let lock = try WriterLock(path: lockPath)
        defer { lock.release() }
        do { try Self.clear(url.path, keeping: [Self.lockFileName], last: last) } catch {
            throw StoreError(.io, "cannot empty \(url.path)", cause: UnderlyingError("\(error)"))
        }
    }

    /// Removes the entries of the directory at `path` but those in `keeping`, the ones in `last`
    /// after all the others and after the directory is synced: a marker saying the directory is
    /// unfinished (a recovery's, a backup's) goes only once nothing it warns of is left, so a
    /// kill or a power cut in between leaves the marker, never a partial directory without it
    /// (was: removed in listing order, the marker often first). Throws the first failure.
    /// (`remove`: how an entry is removed, for tests.)
    public static func clear(_ path: String, keeping: Set<String> = [], last: Set<String>,
                             remove removeItem: (URL) throws -> Void = { try FileManager.default.removeItem(at: $0) }) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { !keeping.contains($0) }
        let url = URL(fileURLWithPath: path)
        var failure: (any Error)?
        func remove(_ name: String) {
            do { try removeItem(url.appendingPathComponent(name)) } catch {
                if failure == nil { failure = UnderlyingError("cannot remove \(name) from \(path): \(error)") }
            }
        }
        for name in names where !last.contains(name) { remove(name) }
        if let failure { throw failure }
        syncDirectory(path)
        for name in names where last.contains(name) { remove(name) }
        if let failure { throw failure }
        syncDirectory(path)
    }

    /// The signing key file of `log`.
    public func keyPath(log: String) -> String { "\(keysPath)/\(log).pem" }
    /// A key `quartet key rotate` made, before the rotation entry is in the log.
    public func nextKeyPath(log: String) -> String { "\(keysPath)/\(log).next.pem" }
    /// The key in force before the last rotation, kept while checkpoints carry its signature too.
    public func previousKeyPath(log: String) -> String { "\(keysPath)/\(log).previous.pem" }
    /// Written by `quartet key rotate --no-overlap` before its entry goes in: a rotation
    /// interrupted after that is finished without keeping the old (compromised) key.
    public func noOverlapPath(log: String) -> String { "\(keysPath)/\(log).next.no-overlap" }

    /// How long after a rotation checkpoints carry the previous key's signature as well.
    public static let rotationOverlapMillis: UInt64 = 7 * 24 * 3600 * 1000

    /// The keys a writer signs with under `chain`: the key in force, and the previous one while
    /// it is kept (`previous.pem`). A rotation interrupted after its entry went in but before
    /// the key files were swapped is finished here.
    public func signingKeys(log: String, chain: KeyChain) throws(StoreError) -> (current: Ed25519PrivateKey, previous: Ed25519PrivateKey?) {
        let (current, interrupted) = try keyInForce(log: log, chain: chain)
        // As the interrupted `key rotate` was told: without the old key if `--no-overlap`.
        if interrupted { try finishRotation(log: log, keepPrevious: !FileManager.default.fileExists(atPath: noOverlapPath(log: log))) }
        var previous: Ed25519PrivateKey?
        if let last = chain.rotations.last, FileManager.default.fileExists(atPath: previousKeyPath(log: log)),
           let key = try? readSigningKey(path: previousKeyPath(log: log), log: log), key.publicKey == last.previous {
            previous = key
        }
        return (current, previous)
    }

    /// The signing key in force for `log` under `chain` (its current key), read without
    /// changing anything: `<log>.pem`, or the key of a rotation a crash interrupted after its
    /// entry went in (`interrupted`: in `<log>.next.pem`, beside the old key's `<log>.pem` or,
    /// from a version before 2026-12-02 crashed between its two renames, with none), which
    /// `signingKeys` finishes. Shared by the writer's start, `key rotate`, `verify` and `backup`.
    public func keyInForce(log: String, chain: KeyChain) throws(StoreError) -> (key: Ed25519PrivateKey, interrupted: Bool) {
        let missing = !FileManager.default.fileExists(atPath: keyPath(log: log))
        let current: Ed25519PrivateKey? = missing ? nil : try readSigningKey(log: log)
        if let current, current.publicKey == chain.current { return (current, false) }
        guard FileManager.default.fileExists(atPath: nextKeyPath(log: log)), let next = try? readSigningKey(path: nextKeyPath(log: log), log: log),
              next.publicKey == chain.current else {
            if missing { _ = try readSigningKey(log: log) }
            throw StoreError(.key, "the signing key at \(keyPath(log: log)) is not the key in force for log \(log) (\(NoteVerifier(name: chain.origin, publicKey: chain.current).vkey))")
        }
        return (next, true)
    }

    /// Removes the previous key of `log` (its overlap is over), durably.
    public func removePreviousKey(log: String) {
        guard unlink(previousKeyPath(log: log)) == 0 else { return }
        Self.syncDirectory(keysPath)
    }

    /// Makes the next key the key in force: `<log>.pem` is kept as `<log>.previous.pem` (or
    /// `previous.pem` removed with `keepPrevious` false) and `<log>.next.pem` becomes `<log>.pem`;
    /// the directory is synced. A crash at any step leaves `<log>.pem` in place (the old key, or
    /// the new one): the old key is linked as `previous` first, then the next key renamed over
    /// it, and only then is anything removed; `signingKeys` finishes what was interrupted.
    public func finishRotation(log: String, keepPrevious: Bool = true) throws(StoreError) {
        let current = keyPath(log: log), next = nextKeyPath(log: log), previous = previousKeyPath(log: log)
        if keepPrevious, FileManager.default.fileExists(atPath: current) {
            unlink(previous)
            guard link(current, previous) == 0 else { throw StoreError(.key, "cannot keep \(current) as \(previous): \(String(cString: strerror(errno)))") }
            Self.syncDirectory(keysPath)
        }
        guard rename(next, current) == 0 else { throw StoreError(.key, "cannot move \(next) to \(current): \(String(cString: strerror(errno)))") }
        if !keepPrevious { unlink(previous) }
        unlink(noOverlapPath(log: log))
        Self.syncDirectory(keysPath)
    }

    /// Makes the entries of directory `path` (files created, renamed or removed) durable.
    public static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Whether the directory holds a database.
    public var exists: Bool { FileManager.default.fileExists(atPath: databasePath) }

    /// Creates the directory (mode 0700: it holds payloads and their salts) if missing.
    public func create() throws(StoreError) {
        // Its entry synced into its parent: the key `init` writes into it is printed, then pinned.
        do { try RegularFile.makeDirectoryDurably(url.path, mode: 0o700) } catch {
            throw StoreError(.io, "cannot create data directory \(url.path)", cause: UnderlyingError(error.description))
        }
    }

    /// Writes a new signing key for `log` with mode 0600. Refuses to overwrite an existing key.
    /// Records (durably) that the rotation under way keeps no overlap (`noOverlapPath`).
    public func writeNoOverlapMarker(log: String) throws(StoreError) {
        let path = noOverlapPath(log: log)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600)
        guard fd >= 0, fsync(fd) == 0 else {
            let reason = String(cString: strerror(errno))
            if fd >= 0 { close(fd) }
            throw StoreError(.key, "cannot write \(path): \(reason)")
        }
        close(fd)
        Self.syncDirectory(keysPath)
    }

    public func writeSigningKey(_ key: Ed25519PrivateKey, log: String, path given: String? = nil) throws(StoreError) {
        if !FileManager.default.fileExists(atPath: keysPath) {
            do {
                try FileManager.default.createDirectory(atPath: keysPath, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError(.io, "cannot create \(keysPath)", cause: UnderlyingError(error.localizedDescription))
            }
            // The new folder's own entry, or a power cut could lose it with the key in it.
            Self.syncDirectory(url.path)
        }
        let path = given ?? keyPath(log: log)
        let pem: String
        do { pem = try key.pemRepresentation() } catch { throw StoreError(.key, "cannot encode the signing key of \(log)", cause: error) }
        do { try RegularFile.writeDurably(Array(pem.utf8), to: path) } catch {
            throw StoreError(.key, "signing key file: \(error.description)")
        }
        // Make the new directory entry durable too, or a power cut could keep the log and lose its key.
        Self.syncDirectory(keysPath)
    }

    /// Refuses a data directory that other users could change: the directory, its key folder,
    /// the database and its -wal/-shm must belong to this user and not be writable by group or
    /// others (someone who can write them can replace keys, rows or triggers under the node).
    public func checkOwnership() throws(StoreError) {
        let uid = geteuid()
        for path in [url.path, keysPath] + databaseFiles {
            var info = stat()
            guard stat(path, &info) == 0 else { continue }
            guard info.st_uid == uid else {
                throw StoreError(.key, "\(path) belongs to user \(info.st_uid), not to the user running the node (\(uid)); run chown on it")
            }
            guard info.st_mode & 0o022 == 0 else {
                throw StoreError(.key, "\(path) is writable by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod go-w on it")
            }
        }
    }

    /// The memory-backed file system the directory is on (`tmpfs`, `ramfs`), if it is on one:
    /// everything in it — every acknowledged append, the keys — is gone at the next reboot, so
    /// the node's durability holds only against its process dying. A node started there and
    /// `config check` say so.
    public func volatileFileSystem() -> String? {
        // The mount holding it: the longest mount point of /proc/self/mounts above its real
        // path (spaces and the like escaped as `\040`), whose file system type is read.
        guard let real = realpath(url.path, nil) else { return nil }
        defer { free(real) }
        let resolved = String(cString: real)
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let point = String(fields[1]).replacingOccurrences(of: "\\040", with: " ")
            let inside = point == "/" || resolved == point || resolved.hasPrefix(point + "/")
            // Later lines mount over earlier ones at the same point.
            if inside, point.count >= (best?.point.count ?? -1) { best = (point, String(fields[2])) }
        }
        guard let type = best?.type, ["tmpfs", "ramfs"].contains(type) else { return nil }
        return type
    }

    /// The paths of the directory, its key folder and the database open to other users (any
    /// mode bit for group or others): a node started on them says so (every local user could
    /// read the restricted payloads); `config check` refuses such a directory.
    public func openToOthers() -> [String] {
        ([url.path, keysPath] + databaseFiles).filter { path in
            var info = stat()
            return stat(path, &info) == 0 && info.st_mode & 0o077 != 0
        }
    }

    /// Reads the signing key of `log`.
    public func readSigningKey(log: String) throws(StoreError) -> Ed25519PrivateKey {
        try readSigningKey(path: keyPath(log: log), log: log)
    }

    /// Reads a signing key file of `log` (its mode must keep other users out).
    public func readSigningKey(path: String, log: String) throws(StoreError) -> Ed25519PrivateKey {
        let text: String
        // The mode judged on the file opened, not on the path before it.
        do {
            text = try RegularFile.readText(path, limit: 65_536) { info in
                info.st_mode & 0o077 == 0 ? nil : "the signing key of log \(log) at \(path) is readable by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 on it"
            }
        } catch {
            if case .refused(let reason) = error { throw StoreError(.key, reason) }
            throw StoreError(.key, "cannot read the signing key of log \(log) at \(path)", cause: UnderlyingError(error.description))
        }
        do { return try Ed25519PrivateKey(pem: text) } catch {
            throw StoreError(.key, "the signing key of log \(log) at \(path) is not a usable Ed25519 PKCS#8 PEM key", cause: error)
        }
    }
}

/// An exclusive `flock` on the data directory's writer lock file, held while a process may
/// append. It is released when the process exits, however it exits.
final class WriterLock: Sendable {
    private let fd: Mutex<Int32?>

    init(path: String) throws(StoreError) {
        // Not through a symlink: the node can write its directory, and root may take this lock.
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw StoreError(.io, "cannot open lock file \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StoreError(.locked, "another process is writing to this data directory (lock \(path) is held)")
        }
        self.fd = Mutex(fd)
    }

    /// Releases the lock; later calls do nothing.
    func release() {
        fd.withLock { fd in
            guard let descriptor = fd else { return }
            flock(descriptor, LOCK_UN)
            close(descriptor)
            fd = nil
        }
    }

    deinit { release() }
}

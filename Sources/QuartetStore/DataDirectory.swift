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

    /// The signing key file of `log`.
    public func keyPath(log: String) -> String { "\(keysPath)/\(log).pem" }

    /// Whether the directory holds a database.
    public var exists: Bool { FileManager.default.fileExists(atPath: databasePath) }

    /// Creates the directory (mode 0700: it holds payloads and their salts) if missing.
    public func create() throws(StoreError) {
        do {
            if !FileManager.default.fileExists(atPath: url.path) {
                try FileManager.default.createDirectory(atPath: url.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
        } catch {
            throw StoreError(.io, "cannot create data directory \(url.path)", cause: UnderlyingError(error.localizedDescription))
        }
    }

    /// Writes a new signing key for `log` with mode 0600. Refuses to overwrite an existing key.
    public func writeSigningKey(_ key: Ed25519PrivateKey, log: String) throws(StoreError) {
        do {
            try FileManager.default.createDirectory(atPath: keysPath, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreError(.io, "cannot create \(keysPath)", cause: UnderlyingError(error.localizedDescription))
        }
        let path = keyPath(log: log)
        let pem: String
        do { pem = try key.pemRepresentation() } catch { throw StoreError(.key, "cannot encode the signing key of \(log)", cause: error) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw StoreError(.key, "cannot create signing key file \(path): \(reason)")
        }
        defer { close(fd) }
        let bytes = Array(pem.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw StoreError(.key, "cannot write signing key file \(path): \(String(cString: strerror(errno)))")
        }
        // Make the new directory entry durable too, or a power cut could keep the log and lose its key.
        let dirFD = open(keysPath, O_RDONLY | O_DIRECTORY)
        if dirFD >= 0 {
            fsync(dirFD)
            close(dirFD)
        }
    }

    /// Refuses a data directory that other users could change: the directory, its key folder,
    /// the database and its -wal/-shm must belong to this user and not be writable by group or
    /// others (someone who can write them can replace keys, rows or triggers under the node).
    public func checkOwnership() throws(StoreError) {
        let uid = geteuid()
        for path in [url.path, keysPath, databasePath, databasePath + "-wal", databasePath + "-shm"] {
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

    /// Reads the signing key of `log`.
    public func readSigningKey(log: String) throws(StoreError) -> Ed25519PrivateKey {
        let path = keyPath(log: log)
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            throw StoreError(.key, "the signing key of log \(log) at \(path) is readable by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 on it")
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw StoreError(.key, "cannot read the signing key of log \(log) at \(path)", cause: UnderlyingError(error.localizedDescription))
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
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
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

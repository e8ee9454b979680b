import ArgumentParser
import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

/// `quartet backup`: a consistent copy of a node's data directory, taken while it runs,
/// verified, with the checkpoints it holds recorded beside it (docs/operations.md, "Backups").
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Copy a data directory consistently while the node runs, verify the copy, record what it holds.",
        discussion: """
            Writes OUT (a new directory, mode 0700) as a data directory `quartet serve` can start \
            from: quartet.sqlite (SQLite's VACUUM INTO: one consistent snapshot, taken beside a \
            running node's writes), the log signing keys (keys/, 0600), the accepted federation \
            file and its signatures, the record of the members accepted before, kept equivocation evidence and the disclosure journal. The \
            copy is then verified as `quartet verify` does (every leaf against every stored \
            checkpoint); a copy that does not verify is removed and the command fails. \
            OUT/backup.json records when it was taken and each log's size, root and signed \
            checkpoint. Restoring: docs/operations.md ("Backups and restore") — a copy older than \
            what the peers hold of the node's own log must not be appended to before it has caught \
            up, or the node would sign two histories.
            """)

    @Option(help: "The node's configuration file (its data directory is copied).") var config: String?
    @Option(help: "The data directory, instead of --config.") var data: String?
    @Option(help: "Where to write the copy (a new directory).") var out: String
    @OptionGroup var output: FormatOptions

    struct Record: Codable {
        struct Log: Codable {
            var log: String, own: Bool, size: UInt64, root: String?, checkpoint: String?
        }
        var takenAt: String
        var source: String
        var logs: [Log]
        var files: [String]
    }

    func run() async throws {
        guard (config == nil) != (data == nil) else { throw ValidationError("give one of --config and --data") }
        let source: DataDirectory
        if let config {
            do { source = DataDirectory(path: try NodeConfiguration.load(path: config).dataDirectory) } catch { throw CLIError("\(error)") }
        } else {
            source = DataDirectory(path: data!)
        }
        let target = DataDirectory(path: out)
        let manager = FileManager.default
        // As the directory's owner (the node's user): root copying what the node may write would
        // read whatever a compromised node planted for it (docs/operations.md, "Backups").
        var owner = stat()
        if stat(source.url.path, &owner) == 0, owner.st_uid != geteuid() {
            throw CLIError("quartet backup runs as the data directory's owner, user \(owner.st_uid) (sudo -u <that user> quartet backup …; --out must be writable by it); this is user \(geteuid())")
        }
        do { try source.checkOwnership() } catch {
            throw CLIError("quartet backup: \(error.message)")
        }
        // Not a copy that is not whole: an unfinished backup's or recovery's files may be
        // missing, and the marker that says so is not copied (the copy would pass for whole).
        if let refusal = CopyMarkers.startRefusal(source.url.path) { throw CLIError("quartet backup: \(refusal)") }
        if Recovery.isUnfinished(source.url.path) {
            throw CLIError("quartet backup: \(source.url.path) is a recovery that did not finish (quartet recover was interrupted): its files may be missing; run `quartet recover` again before taking a backup")
        }
        // Not inside the directory it copies (a backup of a backup, growing each time).
        let sourcePath = source.url.resolvingSymlinksInPath().standardizedFileURL.path
        let targetPath = target.url.resolvingSymlinksInPath().standardizedFileURL.path
        guard targetPath != sourcePath, !targetPath.hasPrefix(sourcePath + "/") else {
            throw CLIError("--out \(target.url.path) is inside the data directory it would copy; give a directory elsewhere")
        }
        // Whether this backup made the directory is known from mkdir itself (not from a check a
        // moment before, which a second backup could make true meanwhile).
        // Every directory on the way to it this user's or root's, and none other users may
        // write (but sticky ones, as /tmp): another user able to rename entries there could swap
        // the new directory for a link to one of its own between the checks below and the
        // writes, and read (or change) the copy, restricted payloads and all (finding 213).
        // Checked before anything is made.
        if let problem = OwnDirectory.problem(target.url.path) { throw CLIError("--out \(target.url.path): \(problem)") }
        // (Its parents made with their entries synced: the target's own is synced at the end.)
        do { try RegularFile.makeDirectoryDurably(target.url.deletingLastPathComponent().path, mode: 0o700) } catch { throw CLIError("--out \(target.url.path): \(error.description)") }
        let existed = mkdir(target.url.path, 0o700) != 0
        if existed {
            guard errno == EEXIST else { throw CLIError("cannot make \(target.url.path): \(String(cString: strerror(errno)))") }
            guard (try? manager.contentsOfDirectory(atPath: target.url.path))?.isEmpty == true else {
                throw CLIError("\(target.url.path) exists and is not empty; give a new directory")
            }
        }
        // Checked again once made: a missing component the first check passed could have been
        // made meanwhile by another user (a link to a directory of its own in a sticky /tmp).
        if let problem = OwnDirectory.problem(target.url.path) {
            if !existed { rmdir(target.url.path) }
            throw CLIError("--out \(target.url.path): \(problem)")
        }
        // Private, or no backup: a directory this user cannot make private (another's, mode
        // 0777) would leave the keys readable to others. Opened without following a link, and
        // made private through that descriptor: this user's own directory, not what a name led to.
        let pinned = open(target.url.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard pinned >= 0 else {
            throw CLIError("cannot open \(target.url.path) as a directory (a symlink is not followed: \(String(cString: strerror(errno)))); give a directory of your own")
        }
        var made = stat()
        let privateNow = fchmod(pinned, 0o700) == 0 && fstat(pinned, &made) == 0 && made.st_uid == geteuid() && made.st_mode & 0o077 == 0
        close(pinned)
        guard privateNow else {
            throw CLIError("cannot make \(target.url.path) private (chmod 700: \(String(cString: strerror(errno)))); give a directory of your own")
        }
        // One backup at a time into it: the marker is made with O_EXCL, so a second backup
        // started alongside finds it and stops instead of clearing this one's files.
        let marker = target.url.appendingPathComponent(CopyMarkers.backupInProgress).path
        let fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw CLIError("\(target.url.path): another backup is writing into it") }
        close(fd)
        // Checked again with the marker held: a backup that finished into it meanwhile left files.
        guard (try? manager.contentsOfDirectory(atPath: target.url.path)) == [CopyMarkers.backupInProgress] else {
            unlink(marker)
            throw CLIError("\(target.url.path) is not empty (another backup wrote into it); give a new directory")
        }
        // On failure, what this backup wrote goes; a directory that was there before stays.
        // The marker last (`DataDirectory.clear`): a kill meanwhile leaves a directory `serve`
        // refuses as an unfinished backup, never a partial copy without the marker.
        func clear() {
            try? DataDirectory.clear(target.url.path, last: [CopyMarkers.backupInProgress])
            if !existed { rmdir(target.url.path) }
        }
        var files: [String] = []
        do {
            let store = try LedgerStore.open(source)
            defer { try? store.close() }
            try store.copy(to: target.databasePath)
            files.append("quartet.sqlite")
            // The keys and small files beside the database, each kept private; regular files and
            // real directories only (`copyPrivate`, `isDirectory`).
            if try Self.isDirectory(source.keysPath) {
                try manager.createDirectory(atPath: target.keysPath, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                // With the marker of a `key rotate --no-overlap` not finished yet (`<log>.next.no-overlap`):
                // without it a restored copy would finish the rotation keeping the old key.
                for name in try manager.contentsOfDirectory(atPath: source.keysPath).sorted() where name.hasSuffix(".pem") || name.hasSuffix(".next.no-overlap") {
                    try copyPrivate(source.keysPath + "/" + name, target.keysPath + "/" + name, limit: 65_536)
                    files.append("keys/" + name)
                }
            }
            for (name, limit) in [("federation.accepted.json", FederationTrust.maxFileBytes), ("federation.accepted.json.sig", SignedNote.maxLength), ("federation.members-seen.json", FederationTrust.maxFileBytes), ("pending-records", DataDirectory.pendingRecordsLimit), ("lost-payloads", DataDirectory.lostPayloadsLimit), (RevocationsInForce.fileName, 4 << 20)] {
                let path = source.url.appendingPathComponent(name).path
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                // The journal is renamed by every flush of a running node: gone meanwhile, its
                // lines are in the flushing file listed below, or already in the log.
                guard try copyPrivate(path, target.url.appendingPathComponent(name).path, limit: limit, goneIsNothing: name == "pending-records") else { continue }
                files.append(name)
            }
            // Journals of flushes that failed (`pending-records.<pid>.<n>.flushing`): their
            // disclosure and purge records are nowhere else until a start replays them.
            for name in try manager.contentsOfDirectory(atPath: source.url.path).sorted()
            where name.hasPrefix("pending-records.") && name.hasSuffix(".flushing") {
                // Gone since it was listed: a retried flush put its records in the log (after
                // the database's copy was taken, so peers hold them): nothing to copy.
                // Every flush of a running node makes one and removes it once its records are in:
                // gone between the listing and the copy is the usual case, not a failure.
                guard try copyPrivate(source.url.appendingPathComponent(name).path, target.url.appendingPathComponent(name).path,
                                      limit: DataDirectory.pendingRecordsLimit, goneIsNothing: true) else { continue }
                files.append(name)
            }
            let evidence = source.url.appendingPathComponent("evidence").path
            if try Self.isDirectory(evidence) {
                let copied = target.url.appendingPathComponent("evidence").path
                try manager.createDirectory(atPath: copied, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                for name in try manager.contentsOfDirectory(atPath: evidence).sorted() {
                    try copyPrivate(evidence + "/" + name, copied + "/" + name, limit: DataDirectory.evidenceFileLimit)
                    files.append("evidence/" + name)
                }
            }
        } catch {
            clear()
            throw CLIError("backup of \(source.url.path) failed: \(error)")
        }
        // The copy must verify on its own before it counts as a backup.
        let report = VerifyCommand.verify(target, markers: false)
        guard report.isValid else {
            clear()
            throw CLIError("the copy of \(source.url.path) does not verify (removed): \(report.problems.map(\.description).joined(separator: "; "))")
        }
        let copy = try LedgerStore.open(target)
        var logs: [Record.Log] = []
        for log in try copy.logs() {
            let head = try copy.latestCheckpoint(log)
            logs.append(Record.Log(log: log.name, own: log.isOwn, size: try copy.size(log), root: head?.checkpoint.root.base64, checkpoint: head?.note))
            // The copied signing key must be one of the log's keys: a key file swapped by
            // mistake, or damaged, made a "verified" backup that could not start once restored
            // (found when it was needed, perhaps with the live key gone too).
            if log.isOwn, let refusal = Self.keyRefusal(target, log: log, store: copy) {
                try? copy.close()
                clear()
                throw CLIError("the copy of \(source.url.path) was removed: \(refusal)")
            }
        }
        try copy.close()
        let record = Record(takenAt: ISO8601DateFormatter().string(from: Date()), source: source.url.path, logs: logs, files: files)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        do {
            try RegularFile.writeDurably(Array(encoder.encode(record) + Data("\n".utf8)), to: target.url.appendingPathComponent("backup.json").path)
            // A restored copy is written to offline only once a node has confirmed its own log's
            // end with its peers (CopyMarkers).
            try RegularFile.writeDurably(Array("a copy made by quartet backup: start the node once before writing to it offline\n".utf8),
                                         to: target.url.appendingPathComponent(CopyMarkers.unconfirmed).path)
        } catch {
            clear()
            throw CLIError("backup of \(source.url.path) failed: \(error)")
        }
        // Every file (each written with fsync) and directory entry durable before the
        // in-progress marker goes: a power cut after "verified" must not leave an empty key.
        for directory in [target.keysPath, target.url.appendingPathComponent("evidence").path, target.url.path] { DataDirectory.syncDirectory(directory) }
        if !existed { DataDirectory.syncDirectory(target.url.deletingLastPathComponent().path) }
        unlink(marker)
        DataDirectory.syncDirectory(target.url.path)
        switch output.format {
        case .json:
            printJSON(record, snakeCaseKeys: true)
        case .text:
            print("backup of \(source.url.path) in \(target.url.path), verified")
            for log in logs { print("  \(log.log)\(log.own ? " (own)" : ""): \(log.size) entries, root \(log.root ?? "-")") }
            print("recorded in \(target.url.appendingPathComponent("backup.json").path)")
            print("the copy holds the log's signing keys in the clear (keys/): keep it as private as the node's own keys, somewhere else; payloads purged after today stay in it until it is deleted")
        }
    }

    /// Why the copy's signing key of its own `log` cannot be read or is not the key in force,
    /// or nil. A rotation a crash interrupted, its key in force in `<log>.next.pem`, is one a
    /// start finishes: taken (`DataDirectory.keyInForce`, as the start reads it) — unless it was
    /// a `key rotate --no-overlap`, made to be rid of the old key (after a compromise), which
    /// is still beside the new one until a start finishes it: not copied about.
    static func keyRefusal(_ copy: DataDirectory, log: LogInfo, store: LedgerStore) -> String? {
        let interrupted: Bool
        do { interrupted = try copy.keyInForce(log: log.name, chain: try store.keyChain(log)).interrupted } catch {
            return "its signing key of \(log.name) cannot be read, or is not the key in force (\(copy.keyPath(log: log.name))): \(error)"
        }
        if interrupted, FileManager.default.fileExists(atPath: copy.noOverlapPath(log: log.name)) {
            return "a `key rotate --no-overlap` of \(log.name) was interrupted, and the key it retires is still in the data directory: start the node once (it finishes the rotation and removes that key), then back up"
        }
        return nil
    }

    /// Whether `path` is a real directory (false: nothing there); a symlink or anything else
    /// there is refused.
    static func isDirectory(_ path: String) throws -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw CLIError("\(path) is not a directory (a symlink is not followed); the copy takes only the data directory's own files") }
        return true
    }

    /// Copies a file, created with mode 0600 (never readable by others, even briefly). Only a
    /// regular file of at most `limit` bytes, and never through a symlink: the data directory
    /// is the node's, and a compromised node could plant links to anything the user running
    /// the backup may read.
    /// `goneIsNothing`: a file removed before it could be read is skipped (false), not a failure.
    @discardableResult
    private func copyPrivate(_ from: String, _ to: String, limit: Int = 1 << 20, goneIsNothing: Bool = false) throws -> Bool {
        let bytes: [UInt8]
        do { bytes = try RegularFile.read(from, limit: limit, followSymlinks: false) } catch {
            var info = stat()
            if goneIsNothing && lstat(from, &info) != 0 && errno == ENOENT { return false }
            throw CLIError("\(from): \(error); the copy takes only regular files of the data directory")
        }
        do { try RegularFile.writeDurably(bytes, to: to) } catch { throw CLIError(error.description) }
        return true
    }
}

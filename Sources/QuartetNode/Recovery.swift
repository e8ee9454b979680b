import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

/// Setting up an empty data directory for `quartet recover`: the node's own log registered
/// with the key from the operator's key backup, nothing else. The node then starts as usual
/// and, holding nothing, takes its own log from peers before it appends (`OwnLogSync`) and
/// every replica as any new member does. The checks come first, so a refusal leaves nothing
/// behind: the directory must not hold anything yet (never overwrite a node's data), the
/// federation file must be one a quorum signed, and the key must be the one it pins for this
/// node's log (another key would sign checkpoints no peer accepts).
public enum Recovery {
    /// What the federation file says about this node, checked without writing anything.
    public struct Plan: Sendable {
        public let federation: Federation
        public let member: Federation.Member
        /// The other members.
        public var peers: [Federation.Member] { federation.members.filter { $0.id != member.id } }
    }

    /// Reads and checks the federation file (quorum signatures; against the accepted copy if
    /// the data directory holds one) and finds this node in it. Writes nothing.
    public static func plan(_ configuration: NodeConfiguration) throws -> Plan {
        let federation: Federation
        do {
            federation = try FederationTrust.evaluate(path: configuration.federationFile, dataDirectory: configuration.dataDirectory).1.federation
        } catch let error as FederationTrust.Refusal {
            throw NodeStartupError(error.description)
        }
        guard let me = federation.member(configuration.node) else {
            throw NodeStartupError("\(configuration.federationFile) does not list node \(configuration.node) (it lists \(federation.members.map(\.id).joined(separator: ", ")))")
        }
        guard me.log == configuration.log else {
            throw NodeStartupError("\(configuration.federationFile) says node \(me.id) writes log \(me.log), but \(configuration.file) says \(configuration.log)")
        }
        guard federation.members.count > 1 else {
            throw NodeStartupError("\(configuration.federationFile) lists no member besides \(me.id): there is no peer to recover from")
        }
        return Plan(federation: federation, member: me)
    }

    /// Refuses a key that is not the log's key as the federation file names it: its current
    /// key (`current_vkey`) once the file names one (the log rotated: the pinned key, kept in an
    /// old backup, would sign a second history if the peers that answer lacked the rotation),
    /// else the pinned key. A key the federation revoked is refused too. Whether it is the key
    /// in force is known once the own log is back: the node opens it for appends only then.
    public static func check(key: Ed25519PrivateKey, plan: Plan, keyFile: String) throws {
        let member = plan.member
        let expected = member.signingVerifier
        let given = NoteVerifier(name: member.verifier.name, publicKey: key.publicKey).vkey
        guard expected.publicKey == key.publicKey else {
            let which = member.current == nil ? "pins" : "names as its current key (current_vkey; the log rotated)"
            throw NodeStartupError("\(keyFile) is not the signing key of log \(member.log): its public key gives \(given), but the federation file \(which) \(expected.vkey); "
                                   + "use the key from the operator's backup of this node's keys (the newest, if the log rotated)")
        }
        if member.signingKeyRevoked {
            throw NodeStartupError("\(keyFile) holds \(given), which the federation file revokes beyond size \(member.revoked[key.publicKey]!); use the key the log rotated to")
        }
    }

    /// The file that marks a data directory as a recovery in progress: written before anything
    /// else, removed once the recovery finished. A directory holding it is what an interrupted
    /// `recover` left (SIGINT, SIGKILL, a power cut): `serve` refuses it and the next `recover`
    /// starts it over.
    static let markerName = "RECOVERING"

    /// Whether `dataDirectory` is a recovery that did not finish: anything at the marker's name,
    /// a link too (`lstat`: a dangling link must not hide the mark, as `CopyMarkers` checks).
    public static func isUnfinished(_ dataDirectory: String) -> Bool {
        var info = stat()
        return lstat(URL(fileURLWithPath: dataDirectory).appendingPathComponent(markerName).path, &info) == 0
    }

    /// The recovery still running into `dataDirectory`, by the process id its marker names: a
    /// live process other than this one whose arguments hold `recover` (a reused id of another
    /// program does not count). The writer lock alone cannot tell: between `prepare` and the
    /// node's start nobody holds it, and a second recover clearing the directory then wiped the
    /// running one's database.
    static func runningRecovery(_ dataDirectory: String) -> Int32? {
        let marker = URL(fileURLWithPath: dataDirectory).appendingPathComponent(markerName)
        // The marker is a line this command wrote: read as a small regular file, never through
        // a link (a restored directory's planted FIFO would hang `recover`).
        guard let text = try? RegularFile.readText(marker.path, limit: 4096, followSymlinks: false), let range = text.range(of: " pid ") else { return nil }
        guard let pid = Int32(text[range.upperBound...].prefix { $0.isASCII && $0.isNumber }), pid > 0, pid != getpid() else { return nil }
        guard kill(pid, 0) == 0 || errno == EPERM else { return nil }
        guard let arguments = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return nil }
        return arguments.split(separator: 0).contains { $0.elementsEqual("recover".utf8) } ? pid : nil
    }

    /// Marks the recovery in `configuration`'s data directory finished (the marker removed, the
    /// directory synced).
    public static func finish(_ configuration: NodeConfiguration) throws {
        let url = URL(fileURLWithPath: configuration.dataDirectory)
        guard unlink(url.appendingPathComponent(markerName).path) == 0 || errno == ENOENT else {
            throw NodeStartupError("cannot remove \(url.appendingPathComponent(markerName).path): \(String(cString: strerror(errno)))")
        }
        DataDirectory.syncDirectory(url.path)
    }


    /// Refuses a data directory that holds anything (a database above all: never overwritten).
    /// What an interrupted recovery left (its marker present) is refused too, unless
    /// `clearUnfinished`: then it is cleared first, under the writer lock (refused while any
    /// process, a recovery still running or the node, holds the directory). Returns whether such
    /// a leftover was cleared.
    @discardableResult
    public static func checkEmpty(_ configuration: NodeConfiguration, clearUnfinished: Bool = false) throws -> Bool {
        let directory = DataDirectory(path: configuration.dataDirectory)
        if isUnfinished(configuration.dataDirectory) {
            if let pid = runningRecovery(configuration.dataDirectory) {
                throw NodeStartupError("another process (pid \(pid)) is recovering into \(directory.url.path): let it finish, or end it and run recover again")
            }
            guard clearUnfinished else {
                throw NodeStartupError("\(directory.url.path) holds a recovery that did not finish (quartet recover was interrupted); `quartet recover` starts it over")
            }
            do { try directory.clearHoldingLock(last: [Self.markerName]) } catch {
                throw NodeStartupError("cannot start the unfinished recovery in \(directory.url.path) over: \(error.message)")
            }
            return true
        }
        if directory.exists {
            throw NodeStartupError("\(directory.url.path) holds a database (\(directory.databasePath)); recover never overwrites a node's data. "
                                   + "If this node's data is lost, move the directory aside and run recover again")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.url.path, isDirectory: &isDirectory) else { return false }
        guard isDirectory.boolValue else { throw NodeStartupError("\(directory.url.path) is not a directory") }
        // (A lock file alone is what clearing an unfinished recovery leaves.)
        let contents = ((try? FileManager.default.contentsOfDirectory(atPath: directory.url.path)) ?? ["?"]).filter { $0 != DataDirectory.lockFileName }
        guard contents.isEmpty else {
            throw NodeStartupError("\(directory.url.path) is not empty (it holds \(contents.sorted().prefix(5).joined(separator: ", "))); recover writes only into an empty or new directory")
        }
        return false
    }

    /// Creates the data directory (mode 0700) with the own log registered under the pinned
    /// origin and key (the chain of rotations comes back with the log), and the key written
    /// (0600). Returns whether the directory was created
    /// (so a failed recovery can remove it again).
    @discardableResult
    public static func prepare(_ configuration: NodeConfiguration, plan: Plan, key: Ed25519PrivateKey) throws -> Bool {
        try checkEmpty(configuration)
        let directory = DataDirectory(path: configuration.dataDirectory)
        let created = !FileManager.default.fileExists(atPath: directory.url.path)
        // The marker first, so an interruption at any later point leaves a directory that
        // `serve` refuses and `recover` clears.
        do { try RegularFile.makeDirectoryDurably(directory.url.path, mode: 0o700) } catch { throw NodeStartupError(error.description) }
        let marker = directory.url.appendingPathComponent(markerName).path
        guard FileManager.default.createFile(atPath: marker, contents: Data("quartet recover started \(wallClockMillis()) pid \(getpid())\n".utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw NodeStartupError("cannot write \(marker)")
        }
        DataDirectory.syncDirectory(directory.url.path)
        let store = try LedgerStore.create(directory)
        defer { try? store.close() }
        chmod(directory.url.path, 0o700)
        try directory.writeSigningKey(key, log: plan.member.log)
        _ = try store.addLog(name: plan.member.log, origin: plan.member.verifier.name, publicKey: plan.member.verifier.publicKey, own: true, nowMillis: wallClockMillis())
        return created
    }

    /// Undoes `prepare` after a failed recovery: removes what it wrote (the directory itself
    /// if it made it), so the operator can run it again.
    public static func discard(_ configuration: NodeConfiguration, created: Bool) {
        let url = DataDirectory(path: configuration.dataDirectory).url
        // The marker last (`DataDirectory.clear`): a kill meanwhile leaves a directory that
        // still says it is an unfinished recovery, which `recover` starts over.
        try? DataDirectory.clear(url.path, last: [markerName])
        if created { rmdir(url.path) }
    }
}

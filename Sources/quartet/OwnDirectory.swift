import Foundation
import QuartetCrypto
#if canImport(Glibc)
import Glibc
#endif

/// A directory a command writes keys, certificates, backups or a federation's files into, or
/// reads a CA's key from: this user's (or root's) all the way down — every directory the path
/// passes through, links and their targets included — so that no other user can put a link
/// or a file of theirs in its place (`backup --out`, finding 213; `demo --dir`, `pki … --out`,
/// `pki … --ca`, `agreement keygen --out`, finding 292).
enum OwnDirectory {
    /// Refuses `path` (given as `option`) when another user can change it or a directory above.
    static func check(_ path: String, option: String) throws {
        if let problem = problem(path) { throw CLIError("\(option) \(path): \(problem)") }
    }

    /// `check`, then makes what is missing of `path` (mode 0700) and checks again: a directory
    /// another user made on the way between the first check and the making is found.
    static func prepare(_ path: String, option: String) throws {
        try check(path, option: option)
        do { try RegularFile.makeDirectoryDurably(path, mode: 0o700) } catch {
            throw CLIError("\(option) \(path): \(error.description)")
        }
        try check(path, option: option)
    }

    /// Whether group `gid` is this user's private group (named as the user, with no other
    /// members listed): a directory writable by it, as a umask of 002 leaves every directory
    /// of the user's, is writable by this user alone.
    static func isPrivateGroup(_ gid: gid_t) -> Bool {
        guard gid == getegid(), let user = getpwuid(geteuid()), let group = getgrgid(gid) else { return false }
        return String(cString: user.pointee.pw_name) == String(cString: group.pointee.gr_name) && group.pointee.gr_mem?.pointee == nil
    }

    /// Why a directory at `path` would not be this user's alone to write into (nil: it would):
    /// a directory on the way to it — every one the path passes through, a link's own directory
    /// and every one its target passes through, one component at a time — owned by another user
    /// than this one and root, or writable by others without the sticky bit, or a link another
    /// user owns (it can re-point it). What does not exist
    /// yet is made by this user below the last that does.
    static func problem(_ path: String) -> String? {
        func unsafe(_ directory: String) -> String? {
            var info = stat()
            guard stat(directory, &info) == 0 else { return nil }
            if info.st_uid != 0 && info.st_uid != geteuid() {
                return "\(directory) belongs to user \(info.st_uid): give a directory only you (or root) can change the entries of"
            }
            let othersWrite = info.st_mode & 0o002 != 0 || (info.st_mode & 0o020 != 0 && !isPrivateGroup(info.st_gid))
            if othersWrite && info.st_mode & UInt32(S_ISVTX) == 0 {
                return "\(directory) is writable by other users (mode \(String(info.st_mode & 0o7777, radix: 8))) without the sticky bit: another user could replace what is written there; give a directory only you (or root) can change the entries of (`chmod go-w \(directory)`)"
            }
            return nil
        }
        var pending = URL(fileURLWithPath: path).standardizedFileURL.pathComponents.dropFirst().map { $0 }
        var current = "/"
        var links = 0
        if let found = unsafe(current) { return found }
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == ".." { current = (current as NSString).deletingLastPathComponent; continue }
            if name == "." || name.isEmpty { continue }
            let next = current == "/" ? "/" + name : current + "/" + name
            var info = stat()
            guard lstat(next, &info) == 0 else { return nil }  // made by this user from here
            if info.st_mode & S_IFMT == S_IFLNK {
                // Its owner may point it elsewhere at any time (a sticky directory keeps others
                // from replacing it, not its owner from changing it), after every check here.
                if info.st_uid != 0 && info.st_uid != geteuid() {
                    return "\(next) is a symbolic link belonging to user \(info.st_uid), who could point it elsewhere: give a path only you (or root) can change"
                }
                links += 1
                guard links <= 40 else { return "\(path): too many symbolic links on the way" }
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let count = readlink(next, &buffer, Int(PATH_MAX))
                guard count > 0 else { return "\(next): cannot read the link" }
                let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let components = (target as NSString).pathComponents
                if target.hasPrefix("/") {
                    current = "/"
                    pending = Array(components.dropFirst()) + pending
                } else {
                    pending = components + pending
                }
                continue
            }
            current = next
            if info.st_mode & S_IFMT == S_IFDIR, let found = unsafe(current) { return found }
        }
        return nil
    }
}

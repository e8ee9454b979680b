import Foundation
import QuartetCrypto

/// A file holding a secret, read as the node reads its own keys: opened without following a
/// symlink and judged on what was opened (`RegularFile.read`'s `inspect`: no swap between a
/// check and the read) — a regular file, with no other user's access, at most `limit` bytes.
enum SecretFile {
    static func read(_ path: String, limit: Int, what: String, ownedByThisUser: Bool) throws -> [UInt8] {
        do {
            return try RegularFile.read(path, limit: limit, followSymlinks: false) { info in
                if ownedByThisUser, info.st_uid != geteuid() { return "it belongs to another user (uid \(info.st_uid)): it must be this user's own" }
                guard info.st_mode & 0o077 == 0 else {
                    return "it is readable or writable by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 on it"
                }
                return nil
            }
        } catch {
            switch error {
            case .notRegular: throw CLIError("\(what) \(path) is not a regular file")
            case .tooLarge(let size, _): throw CLIError("\(what) \(path) is \(size) bytes, more than \(limit)")
            case .refused(let reason): throw CLIError("\(what) \(path): \(reason)")
            case .cannotOpen(let reason), .cannotRead(let reason): throw CLIError("cannot read \(what) \(path): \(reason)")
            }
        }
    }
}

/// A signing key's file (`--key` of `agreement sign`, an owner's key change, `federation
/// sign`, `recover`): read as the node reads its own — a regular file, no other user's access
/// (finding 274; before, any mode was taken, so a data owner's key left open to a group gave no
/// word of it).
enum SigningKeyFile {
    static func read(_ path: String) throws -> Ed25519PrivateKey {
        let bytes = try SecretFile.read(path, limit: 16_384, what: "--key:", ownedByThisUser: false)
        guard let pem = String(validating: bytes, as: UTF8.self) else { throw CLIError("--key: cannot read \(path) as text") }
        do { return try Ed25519PrivateKey(pem: pem) } catch { throw CLIError("--key: \(path) is not an Ed25519 private key (PKCS#8 PEM): \(error)") }
    }
}

/// A bearer token read from a file of this user's (`--token-file PATH`) or from standard input
/// (`--token-file -`), so it need not go on a command line, where every user of the host reads
/// it in `ps` and shell history keeps it (finding 273).
enum TokenFile {
    /// A token is short; a file longer than this is not one.
    static let limit = 4096

    static func read(_ path: String) throws -> String {
        // The token itself given where its file's path goes: said without echoing it (every
        // error below names the path, and terminals, logs and CI output keep it).
        if path.contains("qt_"), !path.contains("/"), !FileManager.default.fileExists(atPath: path) {
            throw CLIError("--token-file takes the path of a file holding the token (or - for standard input), and what was given looks like a token itself (not shown here): put it in a file of yours, mode 600, and give that file's path")
        }
        let bytes: [UInt8]
        if path == "-" {
            bytes = Array(try VerifyCheckpointCommand.read(path, limit: limit, what: "a token"))
        } else {
            bytes = try SecretFile.read(path, limit: limit, what: "the token file", ownedByThisUser: true)
        }
        let source = path == "-" ? "standard input" : path
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CLIError("the token in \(source) is not UTF-8 text") }
        // One line: a trailing newline (as `echo` or an editor leaves, CRLF on Windows) is not
        // part of it. By scalars: "\r\n" is one Character, so dropping two would take the
        // token's last character with it.
        var scalars = Substring(text).unicodeScalars
        if scalars.last == "\n" { scalars.removeLast() }
        if scalars.last == "\r" { scalars.removeLast() }
        let token = String(scalars)
        guard !token.isEmpty else { throw CLIError("\(source) holds no token") }
        guard token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
            throw CLIError("the token in \(source) holds spaces, line breaks, a byte-order mark or other characters a token does not (one token, on one line)")
        }
        return token
    }
}

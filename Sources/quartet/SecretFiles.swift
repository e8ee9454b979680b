import Foundation
import QuartetCrypto

/// A signing key's file (`--key` of `agreement sign`, an owner's key change, `federation
/// sign`, `recover`): read as the node reads its own — a regular file, no other user's access
/// (finding 274; before, any mode was taken, so a data owner's key left open to a group gave no
/// word of it).
enum SigningKeyFile {
    static func read(_ path: String) throws -> Ed25519PrivateKey {
        let bytes: [UInt8]
        do { bytes = try RegularFile.read(path, limit: 16_384) } catch {
            switch error {
            case .notRegular: throw CLIError("--key: \(path) is not a regular file")
            case .tooLarge(let size, _): throw CLIError("--key: \(path) is \(size) bytes; a PEM Ed25519 key is a few hundred")
            case .cannotOpen(let reason), .cannotRead(let reason): throw CLIError("--key: cannot read \(path): \(reason)")
            }
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            throw CLIError("--key: \(path) is readable or writable by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 on it")
        }
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
        let bytes: [UInt8]
        if path == "-" {
            bytes = Array(try VerifyCheckpointCommand.read(path, limit: limit, what: "a token"))
        } else {
            // The file holds a credential: this user's alone, as keys are (no symlink followed).
            var info = stat()
            guard lstat(path, &info) == 0 else { throw CLIError("cannot read the token file \(path): \(String(cString: strerror(errno)))") }
            guard (info.st_mode & S_IFMT) == S_IFREG else { throw CLIError("the token file \(path) is not a regular file (a symlink is not followed)") }
            guard info.st_uid == geteuid() else { throw CLIError("the token file \(path) belongs to another user (uid \(info.st_uid)): a token file is its user's own") }
            guard info.st_mode & 0o077 == 0 else {
                throw CLIError("the token file \(path) is readable or writable by other users (mode \(String(info.st_mode & 0o777, radix: 8))); run chmod 600 on it")
            }
            do { bytes = try RegularFile.read(path, limit: limit, followSymlinks: false) } catch {
                if case .tooLarge = error { throw CLIError("the token file \(path) is longer than \(limit) bytes: not a token") }
                throw CLIError("cannot read the token file \(path): \(error)")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CLIError("the token in \(path == "-" ? "standard input" : path) is not UTF-8 text") }
        // One line: a trailing newline (as `echo` or an editor leaves) is not part of it.
        let token = text.hasSuffix("\r\n") ? String(text.dropLast(2)) : text.hasSuffix("\n") ? String(text.dropLast()) : text
        guard !token.isEmpty else { throw CLIError("\(path == "-" ? "standard input" : path) holds no token") }
        guard token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f }) else {
            throw CLIError("the token in \(path == "-" ? "standard input" : path) holds spaces, line breaks or other characters a token does not (one token, on one line)")
        }
        return token
    }
}

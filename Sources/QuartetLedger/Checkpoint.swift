/// A C2SP `tlog-checkpoint` body: the origin line, the tree size, the base64 root hash, and
/// optional extension lines.
///
/// Quartet writes one extension line, `quartet-time <unix-ms>`, the writer's clock when it signed
/// the checkpoint, so a reader can tell how fresh a log is. Readers ignore extensions they do
/// not know, as the specification asks.
public struct Checkpoint: Hashable, Sendable {
    /// The prefix of Quartet's signing-time extension line.
    public static let timeExtensionPrefix = "quartet-time "

    /// The log's origin: a schema-less URL-like name, unique to the log, e.g. `quartet.example/wales`.
    public var origin: String
    /// The number of leaves.
    public var size: UInt64
    /// The Merkle tree hash of those leaves.
    public var root: Hash
    /// Extension lines, without their newlines.
    public var extensions: [String]

    public init(origin: String, size: UInt64, root: Hash, extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    /// The checkpoint a signed note states, its signatures not checked (nil: not a signed
    /// note of a checkpoint): for finding a size or an origin to check against, never for trust.
    public init?(unverifiedNote text: String) {
        guard let note = try? SignedNote(parsing: text), let checkpoint = try? Checkpoint(parsing: note.text) else { return nil }
        self = checkpoint
    }

    /// A checkpoint carrying the signing time as Quartet's `quartet-time` extension.
    public init(origin: String, size: UInt64, root: Hash, timeMillis: UInt64) {
        self.init(origin: origin, size: size, root: root, extensions: [Self.timeExtensionPrefix + String(timeMillis)])
    }

    /// The signing time from the `quartet-time` extension, if present.
    public var timeMillis: UInt64? {
        for line in extensions where line.hasPrefix(Self.timeExtensionPrefix) {
            let digits = line.dropFirst(Self.timeExtensionPrefix.count)
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return UInt64(digits)
        }
        return nil
    }

    /// What is wrong with this checkpoint's extension lines for a Quartet log, or nil. A Quartet
    /// writer signs exactly one, `quartet-time <unix-ms>`; a checkpoint without it (another
    /// C2SP log's, a test's) is accepted too. Anything else — a modified writer's up to 64 KiB
    /// of lines, which every node would keep with each batch and every witness would cosign — is
    /// refused wherever a log's checkpoint is taken from a peer, a witness request or a store.
    /// The largest `quartet-time` taken: 2^63 - 1 ms.
    public static let maxTimeMillis = UInt64(Int64.max)

    public var extensionRefusal: String? {
        guard extensions.count <= 1 else {
            return "checkpoint of \(origin) at size \(size): \(extensions.count) extension lines; a Quartet log signs at most one, `quartet-time <unix-ms>`"
        }
        guard let line = extensions.first else { return nil }
        let digits = line.utf8.dropFirst(Self.timeExtensionPrefix.utf8.count)
        guard line.utf8.starts(with: Self.timeExtensionPrefix.utf8), (1...20).contains(digits.count),
              digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), digits.count == 1 || digits.first != 0x30,
              let millis = UInt64(String(decoding: digits, as: UTF8.self)) else {
            return "checkpoint of \(origin) at size \(size): its extension line (\(line.utf8.count) bytes) is not `quartet-time <unix-ms>`"
        }
        // Stored as SQLite's signed 64-bit integer (a time past it trapped every node storing
        // the batch: a member could stop all the others with one signed checkpoint).
        guard millis <= Self.maxTimeMillis else {
            return "checkpoint of \(origin) at size \(size): quartet-time \(millis) is past the largest time a node stores (\(Self.maxTimeMillis))"
        }
        return nil
    }

    /// The note text: each line ends with a newline.
    public var body: String {
        var text = "\(origin)\n\(size)\n\(root.base64)\n"
        for line in extensions { text += line + "\n" }
        return text
    }

    /// Parses a checkpoint body (the text of a signed note). Lines are split at newline bytes, as
    /// C2SP readers split them (splitting Characters would keep `\r\n` inside a line).
    public init(parsing body: String) throws(LedgerError) {
        let utf8 = Array(body.utf8)
        guard utf8.last == 0x0A else { throw LedgerError(.malformed, "checkpoint: the text does not end with a newline") }
        let lines = utf8.dropLast().split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard lines.count >= 3 else { throw LedgerError(.malformed, "checkpoint: expected at least 3 lines, got \(lines.count)") }
        guard Self.isValidOrigin(lines[0]) else { throw LedgerError(.malformed, "checkpoint: line 1: not a valid origin: \(lines[0].prefix(80))") }
        let digits = lines[1]
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              digits == "0" || !digits.hasPrefix("0"), let size = UInt64(digits) else {
            throw LedgerError(.malformed, "checkpoint: line 2: expected a decimal tree size without leading zeros, got \(digits.prefix(40))")
        }
        let root: Hash
        do { root = try Hash(base64: lines[2]) } catch {
            throw LedgerError(.malformed, "checkpoint: line 3: expected a base64 SHA-256 root hash")
        }
        let extensions = Array(lines.dropFirst(3))
        guard !extensions.contains(where: \.isEmpty) else { throw LedgerError(.malformed, "checkpoint: an extension line is empty") }
        self.init(origin: lines[0], size: size, root: root, extensions: extensions)
    }

    /// An origin is non-empty printable text without spaces or `+` (it is also the note key name).
    public static func isValidOrigin(_ origin: String) -> Bool {
        guard !origin.isEmpty, origin.utf8.count <= 255 else { return false }
        // Nearly every origin is ASCII: decided from its bytes (every ASCII whitespace is a
        // control or the space), since the Unicode property lookups cost more than the rest of
        // parsing a checkpoint, which every pushed batch and witness request does.
        if origin.utf8.allSatisfy({ $0 < 0x80 }) {
            return origin.utf8.allSatisfy { $0 > 0x20 && $0 != 0x7F && $0 != UInt8(ascii: "+") }
        }
        return origin.unicodeScalars.allSatisfy(isOriginScalar)
    }

    /// The rule for one scalar: not whitespace, not `+`, not a control.
    static func isOriginScalar(_ scalar: Unicode.Scalar) -> Bool {
        !scalar.properties.isWhitespace && scalar != "+" && scalar.properties.generalCategory != .control
    }
}

import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `quartet serve --log-format json` (or `"log_format": "json"`): one JSON object per line on
/// standard error, for log shippers (journald forwards it unchanged):
///
///     {"time":"2026-12-01T10:27:13.042Z","level":"notice","label":"quartet","message":"node listening","metadata":{"api":"https://127.0.0.1:8401","node":"wales"}}
///
/// `time` is UTC, ISO 8601 with milliseconds; `level` is swift-log's level name; `metadata` is
/// always an object (nested dictionaries and arrays stay JSON objects and arrays, anything else
/// becomes a string), keys sorted so equal events print equal lines. Every string is escaped
/// here rather than by JSONSerialization so that no message, however hostile (a peer's
/// certificate subject, a path with a newline), can end the line early or break the object:
/// `"`, `\` and every control character (U+0000–U+001F, U+007F) are escaped, as are U+2028
/// and U+2029, which some JavaScript-based shippers treat as line ends.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// Where each finished line goes (standard error; a collector in tests).
    private let write: @Sendable ([UInt8]) -> Void

    init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider,
         write: @escaping @Sendable ([UInt8]) -> Void = { JSONLogHandler.writeStandardError($0) }) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = Logger.Metadata.merging(handler: metadata, provider: metadataProvider, statement: event.metadata)
        if let error = event.error { merged["error"] = .string("\(error)") }
        write(Self.line(time: Date(), level: event.level, label: label, message: event.message.description, metadata: merged))
    }

    /// One event as a JSON object and a newline: the whole format, separate from the clock and
    /// the output so it can be tested.
    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + message.utf8.count)
        out += Array(#"{"time":"#.utf8)
        appendString(timestamp(time), to: &out)
        out += Array(#","level":"#.utf8)
        appendString(level.rawValue, to: &out)
        out += Array(#","label":"#.utf8)
        appendString(label, to: &out)
        out += Array(#","message":"#.utf8)
        appendString(message, to: &out)
        out += Array(#","metadata":"#.utf8)
        appendValue(.dictionary(metadata), to: &out)
        out += Array("}\n".utf8)
        return out
    }

    /// Metadata nested deeper than this is cut off (`"…"`): a value that refers to itself
    /// through a `stringConvertible` cannot recurse, but a deep literal could.
    static let maximumDepth = 32

    static func appendValue(_ value: Logger.Metadata.Value, to out: inout [UInt8], depth: Int = 0) {
        guard depth < maximumDepth else { return appendString("…", to: &out) }
        switch value {
        case .string(let text): appendString(text, to: &out)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &out)
        case .array(let values):
            out.append(UInt8(ascii: "["))
            for (i, element) in values.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendValue(element, to: &out, depth: depth + 1)
            }
            out.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            out.append(UInt8(ascii: "{"))
            for (i, key) in dictionary.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                appendValue(dictionary[key]!, to: &out, depth: depth + 1)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends `text` as a JSON string (RFC 8259 section 7). Swift strings are valid Unicode,
    /// so the UTF-8 bytes other than the escaped ones are copied as they are.
    static func appendString(_ text: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case 0x5C: out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x00...0x1F, 0x7F, 0x2028, 0x2029:
                let v = Int(scalar.value)
                out += Array("\\u".utf8) + [hex[(v >> 12) & 0xF], hex[(v >> 8) & 0xF], hex[(v >> 4) & 0xF], hex[v & 0xF]]
            default:
                out += Array(String(scalar).utf8)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// `2026-12-01T10:27:13.042Z`: UTC, milliseconds, from the calendar arithmetic of gmtime_r
    /// (no formatter shared between threads).
    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds.quotientAndRemainder(dividingBy: 1000).quotient)
        var remainder = milliseconds % 1000
        if remainder < 0 { remainder += 1000; seconds -= 1 }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(remainder), 3))Z"
    }

    /// Serialises writers so lines from different threads never interleave (one line can
    /// exceed PIPE_BUF, past which a single write(2) is not atomic).
    private static let standardErrorLock = Mutex(())

    /// Writes `bytes` to file descriptor 2, retrying after EINTR and partial writes; a closed
    /// or full standard error drops the line rather than stopping the node.
    static func writeStandardError(_ bytes: [UInt8]) {
        standardErrorLock.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                var offset = 0
                while offset < buffer.count {
                    let written = Glibc.write(2, base + offset, buffer.count - offset)
                    if written > 0 { offset += written } else if written < 0 && errno == EINTR { continue } else { return }
                }
            }
        }
    }
}

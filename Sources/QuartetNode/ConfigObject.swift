import Foundation
import QuartetCrypto
import QuartetAPI

/// A configuration file that cannot be used: which file, which key, and what was expected.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    /// The dotted key path (`tls.certificate`, `nodes[2].peer`), or nil for the file as a whole.
    public let key: String?
    public let message: String

    public init(file: String, key: String?, _ message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key { return "\(file): \(key): \(message)" }
        return "\(file): \(message)"
    }
}

/// A JSON object being read, with the file and key path for error messages. Unknown keys are
/// refused, so a misspelt setting is reported rather than silently ignored.
struct ConfigObject {
    /// A value a file gave, as an error quotes it: at most 64 characters, then how long it was
    /// (a 2 MB value was echoed whole, into the journal too when `serve` refused it).
    static func shown(_ text: String) -> String {
        // (Counted in scalars: one letter with a thousand combining marks is one Character;
        // escaped as `Federation.shown` escapes, so a control character is seen, not obeyed.)
        let head = Federation.shown(text, limit: 64)
        return text.unicodeScalars.count > 64 ? "\"\(head)…\" (\(text.utf8.count) bytes)" : "\"\(head)\""
    }

    let file: String
    let path: String?
    let values: [String: Any]

    init(file: String, path: String?, values: [String: Any]) {
        self.file = file
        self.path = path
        self.values = values
    }

    /// Reads a file's bytes; `what` names the file in the error ("configuration file"). A
    /// regular file of at most `limit` bytes (a FIFO or `/dev/zero` named by mistake is refused,
    /// not waited on or read for ever).
    static func read(_ path: String, what: String, limit: Int = maxFileBytes) throws(ConfigurationError) -> Data {
        do { return Data(try RegularFile.read(path, limit: limit)) } catch {
            throw ConfigurationError(file: path, key: nil, "cannot read the \(what): \(error)")
        }
    }

    /// The text of a PEM file the configuration names (certificate, key, CA), read as
    /// `read` reads: a regular file of at most 1 MiB.
    static func readPEM(_ path: String, what: String) throws(ConfigurationError) -> String {
        String(decoding: try read(path, what: what, limit: 1 << 20), as: UTF8.self)
    }

    /// The largest configuration or federation file read (a federation of hundreds of members
    /// with their keys is well under 1 MiB).
    static let maxFileBytes = 4 << 20

    /// Parses a whole file's bytes.
    init(file: String, data: Data) throws(ConfigurationError) {
        // A key given twice is refused: JSONSerialization keeps the last, and a federation file
        // its members review (`federation show`, jq) must not mean one thing to a reader and
        // another to a node.
        // A UTF-8 byte order mark (some editors write one) is skipped, as JSONSerialization does.
        let bytes = Array(data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data[...])
        do { _ = try JSONValueCoding.parse(bytes) } catch {
            throw ConfigurationError(file: file, key: nil, error.message.hasPrefix("not valid JSON") ? error.message : "not valid JSON: \(error.message)")
        }
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw ConfigurationError(file: file, key: nil, "not valid JSON: \(reason)")
        }
        guard let object = parsed as? [String: Any] else {
            throw ConfigurationError(file: file, key: nil, "expected a JSON object at the top level")
        }
        self.init(file: file, path: nil, values: object)
    }

    func keyPath(_ key: String) -> String { path.map { "\($0).\(key)" } ?? key }

    func error(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, key: keyPath(key), message)
    }

    func refuseUnknownKeys(_ known: Set<String>) throws(ConfigurationError) {
        if let unknown = values.keys.sorted().first(where: { !known.contains($0) }) {
            throw error(unknown, "unknown key; expected one of \(known.sorted().joined(separator: ", "))")
        }
    }

    func string(_ key: String) throws(ConfigurationError) -> String {
        guard let value = values[key] else { throw error(key, "missing; expected a string") }
        guard let string = value as? String, !(value is NSNumber) else { throw error(key, "expected a string, found \(describe(value))") }
        guard !string.isEmpty else { throw error(key, "expected a non-empty string") }
        return string
    }

    func optionalString(_ key: String) throws(ConfigurationError) -> String? {
        guard values[key] != nil, !(values[key] is NSNull) else { return nil }
        return try string(key)
    }

    /// `true` or `false`, or nil when absent; a number (1, 0) is not a boolean here.
    func optionalBool(_ key: String) throws(ConfigurationError) -> Bool? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber, ["c", "B"].contains(String(cString: number.objCType)) else {
            throw error(key, "expected true or false, found \(describe(value))")
        }
        return number.boolValue
    }

    /// A whole number from 1 to 2^53 (JSON's exact integers); `true` is not 1 here.
    func positiveInteger(_ key: String) throws(ConfigurationError) -> UInt64 {
        guard let value = values[key] else { throw error(key, "missing") }
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c", let int = value as? Int,
              int >= 1, int <= 1 << 53 else {
            throw error(key, "expected a whole number from 1, found \(describe(value))")
        }
        return UInt64(int)
    }

    func address(_ key: String) throws(ConfigurationError) -> HostPort {
        let text = try string(key)
        guard let address = HostPort(parsing: text) else {
            throw error(key, "expected host:port with a port from 1 to 65535 (e.g. 127.0.0.1:7401), found \(ConfigObject.shown(text))")
        }
        return address
    }

    func object(_ key: String) throws(ConfigurationError) -> ConfigObject {
        guard let value = values[key] else { throw error(key, "missing; expected an object") }
        guard let object = value as? [String: Any] else { throw error(key, "expected an object, found \(describe(value))") }
        return ConfigObject(file: file, path: keyPath(key), values: object)
    }

    func objects(_ key: String) throws(ConfigurationError) -> [ConfigObject] {
        guard let value = values[key] else { throw error(key, "missing; expected an array of objects") }
        guard let array = value as? [Any] else { throw error(key, "expected an array of objects, found \(describe(value))") }
        var result: [ConfigObject] = []
        for (index, element) in array.enumerated() {
            guard let object = element as? [String: Any] else {
                throw error("\(key)[\(index)]", "expected an object, found \(describe(element))")
            }
            result.append(ConfigObject(file: file, path: "\(keyPath(key))[\(index)]", values: object))
        }
        return result
    }

    /// A path relative to the file's directory, made absolute.
    func filePath(_ key: String) throws(ConfigurationError) -> String {
        resolve(try string(key))
    }

    func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        return base.appendingPathComponent(path).standardizedFileURL.path
    }

    private func describe(_ value: Any) -> String {
        switch value {
        case is NSNull: return "null"
        case let number as NSNumber:
            let type = String(cString: number.objCType)
            return type == "c" || type == "B" ? "a boolean" : "a number"
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        default: return "\(type(of: value))"
        }
    }
}

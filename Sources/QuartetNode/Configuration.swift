import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import QuartetCrypto
import QuartetLedger
import QuartetPolicy

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

/// A TCP listening or connecting address, `host:port` (IPv6 literals in brackets: `[::1]:7400`).
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; nil when it is not of that form or the port is not 1–65535.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace),
              !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (1...65535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// A port on 127.0.0.1 that was free a moment ago (the kernel's choice for port 0).
    public static func freeLoopbackPort() throws(ConfigurationError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ConfigurationError(file: "-", key: nil, "cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } == 0
            && withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } } == 0
        guard ok else { throw ConfigurationError(file: "-", key: nil, "cannot find a free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A JSON object being read, with the file and key path for error messages. Unknown keys are
/// refused, so a misspelt setting is reported rather than silently ignored.
struct ConfigObject {
    let file: String
    let path: String?
    let values: [String: Any]

    init(file: String, path: String?, values: [String: Any]) {
        self.file = file
        self.path = path
        self.values = values
    }

    /// Reads a file's bytes; `what` names the file in the error ("configuration file").
    static func read(_ path: String, what: String) throws(ConfigurationError) -> Data {
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigurationError(file: path, key: nil, "cannot read the \(what): \((error as NSError).localizedDescription)")
        }
    }

    /// Parses a whole file's bytes.
    init(file: String, data: Data) throws(ConfigurationError) {
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

    func address(_ key: String) throws(ConfigurationError) -> HostPort {
        let text = try string(key)
        guard let address = HostPort(parsing: text) else {
            throw error(key, "expected host:port with a port from 1 to 65535 (e.g. 127.0.0.1:7401), found \"\(text)\"")
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

/// One node's configuration file (JSON; see docs/operations.md). Relative paths are resolved
/// against the file's own directory.
public struct NodeConfiguration: Sendable {
    /// The file it was read from.
    public var file: String
    /// This node's id; its certificate must carry `quartet://node/<id>`.
    public var node: String
    /// The data directory (`quartet init` creates it).
    public var dataDirectory: String
    /// The node's own log (default: the node id).
    public var log: String
    /// Where the peer port (mutual TLS, replication) listens.
    public var peerListen: HostPort
    /// Where the HTTPS API listens.
    public var apiListen: HostPort
    /// The federation CA certificate, the node certificate (chain, leaf first) and its key.
    public var caCertificate: String
    public var certificate: String
    public var privateKey: String
    /// The federation file every node shares.
    public var federationFile: String
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel: Logger.Level
    /// Bearer tokens the API accepts, each listed only as its SHA-256.
    public var tokens: [TokenGrant] = []

    /// Reads and checks a configuration file: syntax, types, addresses, that the files it names
    /// exist, and that the node id is well formed.
    public static func load(path: String) throws(ConfigurationError) -> NodeConfiguration {
        try parse(try ConfigObject.read(path, what: "configuration file"), file: path)
    }

    /// Parses a configuration file's bytes; `file` names it in errors and anchors relative paths.
    public static func parse(_ data: Data, file: String) throws(ConfigurationError) -> NodeConfiguration {
        let root = try ConfigObject(file: file, data: data)
        try root.refuseUnknownKeys(["node", "data", "log", "peer", "api", "tls", "federation", "log_level", "tokens"])
        let node = try root.string("node")
        guard FederationPKI.isValidNodeID(node) else {
            throw root.error("node", "expected a node id (1–64 of a-z, 0-9 and '-', not starting with '-'), found \"\(node)\"")
        }
        let log = try root.optionalString("log") ?? node
        guard FederationPKI.isValidNodeID(log) else {
            throw root.error("log", "expected a log name (lower-case letters, digits and '-'), found \"\(log)\"")
        }
        let peer = try root.object("peer")
        try peer.refuseUnknownKeys(["listen"])
        let api = try root.object("api")
        try api.refuseUnknownKeys(["listen"])
        let tls = try root.object("tls")
        try tls.refuseUnknownKeys(["ca", "certificate", "key"])
        var level = Logger.Level.info
        if let text = try root.optionalString("log_level") {
            guard let parsed = Logger.Level(rawValue: text) else {
                throw root.error("log_level", "expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(text)\"")
            }
            level = parsed
        }
        var tokens: [TokenGrant] = []
        if root.values["tokens"] != nil {
            for entry in try root.objects("tokens") {
                try entry.refuseUnknownKeys(["name", "role", "sha256"])
                let name = try entry.string("name")
                guard FederationPKI.isValidNodeID(name) else { throw entry.error("name", "expected a name of a-z, 0-9 and '-', found \"\(name)\"") }
                let role = try entry.string("role")
                let identity: FederationIdentity
                switch role {
                case "reader": identity = .reader(name)
                case "auditor": identity = .auditor(name)
                case "operator": identity = .operator(log)
                default: throw entry.error("role", "expected one of reader, operator, auditor, found \"\(role)\"")
                }
                let hex = try entry.string("sha256")
                guard let digest = TokenGrant.parseHex(hex), digest.count == 32 else {
                    throw entry.error("sha256", "expected the token's SHA-256 as 64 hex digits (`quartet token new` prints it), found \"\(hex)\"")
                }
                guard !tokens.contains(where: { $0.sha256 == digest }) else { throw entry.error("sha256", "the same token is listed twice") }
                tokens.append(TokenGrant(name: name, identity: identity, sha256: digest))
            }
        }
        var configuration = NodeConfiguration(
            file: file, node: node, dataDirectory: try root.filePath("data"), log: log,
            peerListen: try peer.address("listen"), apiListen: try api.address("listen"),
            caCertificate: try tls.filePath("ca"), certificate: try tls.filePath("certificate"), privateKey: try tls.filePath("key"),
            federationFile: try root.filePath("federation"), logLevel: level)
        configuration.tokens = tokens
        guard configuration.peerListen != configuration.apiListen else {
            throw root.error("api.listen", "the API and the peer port cannot share an address (\(configuration.apiListen))")
        }
        for (key, path) in [("tls.ca", configuration.caCertificate), ("tls.certificate", configuration.certificate),
                            ("tls.key", configuration.privateKey), ("federation", configuration.federationFile)] {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ConfigurationError(file: file, key: key, "expected a readable file, but \(path) \(FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist")")
            }
        }
        return configuration
    }
}

/// The federation file every node loads: the members, their addresses and roles, and each log's
/// pinned note verifier key (see docs/operations.md).
public struct Federation: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable, CaseIterable {
        /// Builds the combined UK-wide view.
        case aggregator
        /// Holds a nation's action-plan ledger.
        case nation
    }

    public struct Member: Sendable, Equatable {
        public var id: String
        public var role: Role
        /// The peer port other nodes connect to.
        public var peer: HostPort
        /// The HTTPS API's base URL.
        public var api: String
        /// The log this node writes, and its pinned note verifier key.
        public var log: String
        public var verifier: NoteVerifier
    }

    public var name: String
    public var members: [Member]
    /// Data owners' note verifier keys (they countersign data-sharing agreements), by owner id.
    public var owners: [String: NoteVerifier] = [:]
    /// The labels each data owner's agreements may open (`labels` of each owner: exact labels
    /// or `prefix.*`); a label belongs to one owner. An owner listing none opens nothing.
    public var labels = try! LabelOwnership([:])

    public func member(_ id: String) -> Member? { members.first { $0.id == id } }

    public static func load(path: String) throws(ConfigurationError) -> Federation {
        try parse(try ConfigObject.read(path, what: "federation file"), file: path)
    }

    public static func parse(_ data: Data, file: String) throws(ConfigurationError) -> Federation {
        let root = try ConfigObject(file: file, data: data)
        try root.refuseUnknownKeys(["federation", "nodes", "owners"])
        let name = try root.string("federation")
        var members: [Member] = []
        let nodes = try root.objects("nodes")
        guard !nodes.isEmpty else { throw root.error("nodes", "expected at least one node") }
        for node in nodes {
            try node.refuseUnknownKeys(["id", "role", "peer", "api", "log", "vkey"])
            let id = try node.string("id")
            guard FederationPKI.isValidNodeID(id) else { throw node.error("id", "expected a node id (lower-case letters, digits and '-'), found \"\(id)\"") }
            guard !members.contains(where: { $0.id == id }) else { throw node.error("id", "node \"\(id)\" is listed twice") }
            let roleText = try node.string("role")
            guard let role = Role(rawValue: roleText) else {
                throw node.error("role", "expected one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(roleText)\"")
            }
            let api = try node.string("api")
            guard let url = URL(string: api), url.scheme == "https", url.host != nil else {
                throw node.error("api", "expected an https:// base URL, found \"\(api)\"")
            }
            let log = try node.optionalString("log") ?? id
            guard !members.contains(where: { $0.log == log }) else { throw node.error("log", "log \"\(log)\" is written by two nodes") }
            let vkey = try node.string("vkey")
            let verifier: NoteVerifier
            do { verifier = try NoteVerifier(vkey: vkey) } catch {
                throw node.error("vkey", "expected a note verifier key as `quartet key vkey` prints it: \(error)")
            }
            members.append(Member(id: id, role: role, peer: try node.address("peer"), api: api, log: log, verifier: verifier))
        }
        guard members.filter({ $0.role == .aggregator }).count <= 1 else {
            throw root.error("nodes", "more than one node has the role aggregator")
        }
        var owners: [String: NoteVerifier] = [:]
        var ownerLabels: [String: [String]] = [:]
        if root.values["owners"] != nil {
            for owner in try root.objects("owners") {
                try owner.refuseUnknownKeys(["id", "name", "vkey", "labels"])
                let id = try owner.string("id")
                guard !id.isEmpty, id.utf8.count <= 64, id.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 }) else {
                    throw owner.error("id", "expected a data owner id of A-Z, 0-9 and '-' (e.g. HEIW), found \"\(id)\"")
                }
                _ = try owner.optionalString("name")
                guard owners[id] == nil else { throw owner.error("id", "data owner \(id) is listed twice") }
                let vkey = try owner.string("vkey")
                let verifier: NoteVerifier
                do { verifier = try NoteVerifier(vkey: vkey) } catch {
                    throw owner.error("vkey", "expected a note verifier key as `quartet agreement keygen` prints it: \(error)")
                }
                guard verifier.name == id else { throw owner.error("vkey", "the key is named \(verifier.name); a data owner's key must be named by its id (\(id))") }
                owners[id] = verifier
                if owner.values["labels"] != nil {
                    guard let list = owner.values["labels"] as? [Any], let names = list as? [String] else {
                        throw owner.error("labels", "expected an array of labels or label prefixes (\"heiw.*\")")
                    }
                    guard names.count <= 1000 else { throw owner.error("labels", "at most 1000 labels per data owner") }
                    ownerLabels[id] = names
                }
            }
        }
        // A node id that names another member's log would count as that log's holder.
        for member in members {
            if let other = members.first(where: { $0.log == member.id && $0.id != member.id }) {
                throw root.error("nodes", "node id \"\(member.id)\" is the name of \(other.id)'s log; node ids and other members' log names must differ")
            }
        }
        var federation = Federation(name: name, members: members)
        federation.owners = owners
        do { federation.labels = try LabelOwnership(ownerLabels) } catch { throw root.error("owners", error.message) }
        return federation
    }
}

/// A bearer token the API accepts: who it stands for, and the token's SHA-256 (the token itself
/// is never stored). An operator token stands for the operator of the node's own log.
public struct TokenGrant: Sendable, Equatable {
    public let name: String
    public let identity: FederationIdentity
    public let sha256: [UInt8]

    public init(name: String, identity: FederationIdentity, sha256: [UInt8]) {
        self.name = name
        self.identity = identity
        self.sha256 = sha256
    }

    /// A new random token: `qt_` and 43 base64url characters (32 random bytes).
    public static func newToken() throws -> String {
        let bytes = try SecureRandom.bytes(count: 32)
        return "qt_" + Base64.encode(bytes).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func digest(_ token: String) -> [UInt8] {
        SHA256.hash(Array(token.utf8))
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func parseHex(_ text: String) -> [UInt8]? {
        guard text.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            out.append(byte)
            index = next
        }
        return out
    }
}

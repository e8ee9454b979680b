import Foundation

/// A node configuration file as written to disk (docs/formats.md section 10): exactly the keys
/// `quartet serve` reads (`NodeConfiguration.parse` in QuartetNode, which checks every key and
/// resolves relative paths against the file's directory). Optional keys left nil are omitted.
public struct NodeConfigurationFile: Codable, Sendable, Equatable {
    /// `{"listen": "host:port"}`; the peer port's may also carry
    /// `read_budget_mib_per_second` (docs/formats.md section 10).
    public struct Listener: Codable, Sendable, Equatable {
        public var listen: String
        public var readBudgetMibPerSecond: Int?
        public init(_ listen: String) { self.listen = listen }

        enum CodingKeys: String, CodingKey {
            case listen
            case readBudgetMibPerSecond = "read_budget_mib_per_second"
        }
    }

    /// The CA certificate, the node certificate and its key (paths), and the CA's revocation
    /// list if there is one.
    public struct TLS: Codable, Sendable, Equatable {
        public var ca: String
        public var certificate: String
        public var key: String
        public var crl: String?
        public init(ca: String, certificate: String, key: String, crl: String? = nil) {
            self.ca = ca
            self.certificate = certificate
            self.key = key
            self.crl = crl
        }
    }

    /// A bearer token the API accepts, by its SHA-256 (64 hex digits).
    public struct Token: Codable, Sendable, Equatable {
        public enum Role: String, Codable, Sendable {
            case reader, `operator`, auditor
        }

        public var name: String
        public var role: Role
        public var sha256: String
        public init(name: String, role: Role, sha256: String) {
            self.name = name
            self.role = role
            self.sha256 = sha256
        }
    }

    public var node: String
    /// The data directory.
    public var data: String
    /// The node's own log (default in the file format: the node id).
    public var log: String?
    public var peer: Listener
    public var api: Listener
    public var tls: TLS
    /// The federation file.
    public var federation: String
    /// trace, debug, info (the file format's default), notice, warning, error, critical.
    public var logLevel: String?
    public var tokens: [Token]?

    enum CodingKeys: String, CodingKey {
        case node, data, log, peer, api, tls, federation, tokens
        case logLevel = "log_level"
    }

    public init(node: String, data: String, log: String? = nil, peer: String, api: String, tls: TLS, federation: String,
                logLevel: String? = nil, tokens: [Token]? = nil) {
        self.node = node
        self.data = data
        self.log = log
        self.peer = Listener(peer)
        self.api = Listener(api)
        self.tls = tls
        self.federation = federation
        self.logLevel = logLevel
        self.tokens = tokens
    }
}

/// The federation file every node loads (docs/formats.md section 10), as written to disk:
/// exactly the keys `Federation.parse` in QuartetNode reads.
public struct FederationFile: Codable, Sendable, Equatable {
    /// One member node.
    public struct Node: Codable, Sendable, Equatable {
        public enum Role: String, Codable, Sendable {
            case aggregator, nation
        }

        public var id: String
        public var role: Role
        /// `host:port` of its peer port.
        public var peer: String
        /// The `https://` base URL of its API.
        public var api: String
        /// The log it writes (default in the file format: its id).
        public var log: String?
        /// That log's note verifier key, as `quartet key vkey` prints it.
        public var vkey: String
        /// Its witness key (C2SP tlog-cosignature), as `quartet key witness-vkey` prints it.
        public var witness: String?

        public init(id: String, role: Role, peer: String, api: String, log: String? = nil, vkey: String, witness: String? = nil) {
            self.id = id
            self.role = role
            self.peer = peer
            self.api = api
            self.log = log
            self.vkey = vkey
            self.witness = witness
        }
    }

    /// A data owner whose countersignatures the nodes honour.
    public struct Owner: Codable, Sendable, Equatable {
        public var id: String
        public var name: String?
        public var vkey: String
        /// Exact labels or `prefix.*` patterns its agreements may open.
        public var labels: [String]?
        /// The owner's signed changes of its own entry, oldest first (`quartet agreement owner-change`).
        public var statements: [String]?
        /// A retired owner: none of its agreements is in force.
        public var retired: Bool?

        public init(id: String, name: String? = nil, vkey: String, labels: [String]? = nil, statements: [String]? = nil, retired: Bool? = nil) {
            self.id = id
            self.name = name
            self.vkey = vkey
            self.labels = labels
            self.statements = statements
            self.retired = retired
        }
    }

    public var federation: String
    /// Raised by one for every change (a node refuses to go back to a lower one).
    public var version: Int
    public var nodes: [Node]
    public var owners: [Owner]?

    public init(federation: String, version: Int = 1, nodes: [Node], owners: [Owner]? = nil) {
        self.federation = federation
        self.version = version
        self.nodes = nodes
        self.owners = owners
    }
}

/// Reading and writing the harness's JSON files: pretty-printed with sorted keys, slashes not
/// escaped, a final newline, replaced atomically.
public enum ProvisionedFile {
    /// The file's bytes.
    public static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value) + Data("\n".utf8)
    }

    /// Writes `value` to `path`.
    public static func write(_ value: some Encodable, to path: String) throws {
        try encode(value).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads a file written by `write`; the error names the file.
    public static func read<Value: Decodable>(_ type: Value.Type, from path: String) throws -> Value {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ProvisioningError("cannot read \(path): \((error as NSError).localizedDescription)")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw ProvisioningError("\(path) is not a \(Value.self): \(error)")
        }
    }
}

/// A harness file that cannot be read or made.
public struct ProvisioningError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

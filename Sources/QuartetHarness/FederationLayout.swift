import Foundation

/// Where a local federation's files live under one directory (the layout `quartet demo` makes,
/// which the benchmarks and tests reuse):
///
///     pki/ca/ca.pem, ca.key          the federation CA
///     pki/<node>/<node>.pem, .key    node certificates
///     pki/operators, pki/readers     operator and reader certificates
///     pki/owners/<OWNER>.pem         data owners' signing keys
///     <node>/<node>.json             node configurations (paths relative to <node>/)
///     <node>/data                    data directories
///     federation.json                the federation file
///     demo.json                      `DemoDescription`, for scripts and tests
///     logs/<node>.log                the nodes' output while the demo runs them
public struct FederationLayout: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root.standardizedFileURL }

    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    public var federationFile: String { path("federation.json") }
    public var demoFile: String { path("demo.json") }
    public var pkiDirectory: String { path("pki") }
    public var caDirectory: String { path("pki/ca") }
    public var caCertificate: String { path("pki/ca/ca.pem") }
    public var logsDirectory: String { path("logs") }
    public func nodeDirectory(_ node: String) -> String { path(node) }
    public func nodePKIDirectory(_ node: String) -> String { path("pki/\(node)") }
    public func configFile(_ node: String) -> String { path("\(node)/\(node).json") }
    public func dataDirectory(_ node: String) -> String { path("\(node)/data") }
    public func ownerKey(_ owner: String) -> String { path("pki/owners/\(owner).pem") }
    public func logFile(_ node: String) -> String { path("logs/\(node).log") }

    /// A node's configuration in this layout, with paths relative to its own directory so the
    /// whole tree can be moved.
    public func configuration(node: String, peer: String, api: String, tokens: [NodeConfigurationFile.Token]? = nil) -> NodeConfigurationFile {
        NodeConfigurationFile(node: node, data: "data", peer: peer, api: api,
                              tls: .init(ca: "../pki/ca/ca.pem", certificate: "../pki/\(node)/\(node).pem", key: "../pki/\(node)/\(node).key"),
                              federation: "../federation.json", tokens: tokens)
    }
}

/// `demo.json`: everything a script or a test needs to reach the demo federation. Written by
/// `quartet demo` when it creates the files, and again with each node's `pid` and `log_file`
/// while it runs them.
public struct DemoDescription: Codable, Sendable, Equatable {
    /// The reader certificate and bearer token every node accepts.
    public struct Reader: Codable, Sendable, Equatable {
        public var certificate: String
        public var key: String
        public var identity: String
        /// Absent in directories made before tokens existed.
        public var token: String?

        public init(certificate: String, key: String, identity: String, token: String?) {
            self.certificate = certificate
            self.key = key
            self.identity = identity
            self.token = token
        }
    }

    /// One node: its addresses, files, operator credentials and, while it runs, its process.
    public struct Node: Codable, Sendable, Equatable {
        public var name: String
        public var role: FederationFile.Node.Role
        public var peer: String
        public var api: String
        public var config: String
        public var data: String
        public var log: String
        public var vkey: String
        public var caCertificate: String
        public var operatorCertificate: String
        public var operatorKey: String
        public var operatorToken: String?
        /// Set while `quartet demo` runs the node.
        public var pid: Int32?
        public var logFile: String?

        enum CodingKeys: String, CodingKey {
            case name, role, peer, api, config, data, log, vkey, pid
            case caCertificate = "ca_certificate", operatorCertificate = "operator_certificate", operatorKey = "operator_key"
            case operatorToken = "operator_token", logFile = "log_file"
        }

        public init(name: String, role: FederationFile.Node.Role, peer: String, api: String, config: String, data: String, log: String,
                    vkey: String, caCertificate: String, operatorCertificate: String, operatorKey: String, operatorToken: String?) {
            self.name = name
            self.role = role
            self.peer = peer
            self.api = api
            self.config = config
            self.data = data
            self.log = log
            self.vkey = vkey
            self.caCertificate = caCertificate
            self.operatorCertificate = operatorCertificate
            self.operatorKey = operatorKey
            self.operatorToken = operatorToken
        }
    }

    public var federation: String
    public var caCertificate: String
    public var reader: Reader
    /// Each data owner's signing key file, by owner id.
    public var ownerKeys: [String: String]
    public var nodes: [Node]
    /// Whether the plans and the year of progress have been recorded.
    public var seeded: Bool?

    enum CodingKeys: String, CodingKey {
        case federation, reader, nodes, seeded
        case caCertificate = "ca_certificate", ownerKeys = "owner_keys"
    }

    public init(federation: String, caCertificate: String, reader: Reader, ownerKeys: [String: String], nodes: [Node]) {
        self.federation = federation
        self.caCertificate = caCertificate
        self.reader = reader
        self.ownerKeys = ownerKeys
        self.nodes = nodes
    }

    /// Reads `demo.json`.
    public static func read(_ path: String) throws -> DemoDescription {
        try ProvisionedFile.read(DemoDescription.self, from: path)
    }
}

import Foundation
import Logging
import QuartetCrypto
import QuartetReplication

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
    /// The federation CA's revocation list (`tls.crl`, PEM, from `quartet pki revoke`): the
    /// certificates it names are refused on every port, as peers and as clients.
    public var revocationList: String?
    /// The federation file every node shares.
    public var federationFile: String
    /// Log level: trace, debug, info, notice, warning, error, critical.
    public var logLevel: Logger.Level
    /// How log lines are written to standard error: `text` (swift-log's stream format, the
    /// default) or `json` (one object per line, for log shippers; docs/operations.md).
    public var logFormat: LogFormat = .text
    /// Bearer tokens the API accepts, each listed only as its SHA-256.
    public var tokens: [TokenGrant] = []
    /// The operator says no other node holds this node's own log (`serve
    /// --i-am-the-only-copy`): it appends at once instead of first learning from peers how much
    /// of its log they hold (docs/operations.md, "Restored an old backup"). Never read from the
    /// file: it is a decision for one start.
    public var onlyCopy = false
    /// Peers that must say what they hold of the own log before the node appends (`serve
    /// --peer-answers`); nil: as many as meet every witness quorum of the log
    /// (`ReplicationSettings.ownSyncAnswers`). Never read from the file, like `onlyCopy`.
    public var peerAnswers: Int?
    /// How many bytes of batches a member may be served a second in answer to its requests
    /// (`peer.read_budget_mib_per_second`, default 64; at once, four times that):
    /// `ReadBudget`.
    public var peerReadBudget = ReadBudget.Settings()
    /// The highest replication protocol version the node speaks (`serve --protocol-version`,
    /// hidden: only to test a federation in which one node runs the previous version).
    public var protocolVersion = ProtocolLimits.version
    /// The replication protocol versions this build speaks (`quartet version`).
    public static let protocolVersions: ClosedRange<UInt16> = ProtocolLimits.accepted

    /// The formats of `log_format`.
    public enum LogFormat: String, Sendable, CaseIterable {
        case text, json
    }

    /// A configuration's (or a client file's) `node` id and `log` name (the node's id when not
    /// given), each checked.
    static func nodeAndLog(_ root: ConfigObject) throws(ConfigurationError) -> (node: String, log: String) {
        let node = try root.string("node")
        guard FederationPKI.isValidNodeID(node) else {
            throw root.error("node", "expected a node id (1–64 of a-z, 0-9 and '-', not starting with '-'), found \(ConfigObject.shown(node))")
        }
        let log = try root.optionalString("log") ?? node
        guard FederationPKI.isValidNodeID(log) else {
            throw root.error("log", "expected a log name (lower-case letters, digits and '-'), found \(ConfigObject.shown(log))")
        }
        return (node, log)
    }

    /// Reads and checks a configuration file: syntax, types, addresses, that the files it names
    /// exist, and that the node id is well formed.
    public static func load(path: String) throws(ConfigurationError) -> NodeConfiguration {
        try parse(try ConfigObject.read(path, what: "configuration file"), file: path)
    }

    /// Parses a configuration file's bytes; `file` names it in errors and anchors relative paths.
    public static func parse(_ data: Data, file: String) throws(ConfigurationError) -> NodeConfiguration {
        let root = try ConfigObject(file: file, data: data)
        try root.refuseUnknownKeys(["node", "data", "log", "peer", "api", "tls", "federation", "log_level", "log_format", "tokens"])
        let (node, log) = try nodeAndLog(root)
        let peer = try root.object("peer")
        try peer.refuseUnknownKeys(["listen", "read_budget_mib_per_second"])
        var readBudget = ReadBudget.Settings()
        if peer.values["read_budget_mib_per_second"] != nil {
            let mib = try peer.positiveInteger("read_budget_mib_per_second")
            guard mib <= 4096 else { throw peer.error("read_budget_mib_per_second", "expected at most 4096 (MiB a second), found \(mib)") }
            readBudget.bytesPerSecond = Int(mib) << 20
            readBudget.burstBytes = Int(mib) << 22
        }
        let api = try root.object("api")
        try api.refuseUnknownKeys(["listen"])
        let tls = try root.object("tls")
        try tls.refuseUnknownKeys(["ca", "certificate", "key", "crl"])
        var level = Logger.Level.info
        if let text = try root.optionalString("log_level") {
            guard let parsed = Logger.Level(rawValue: text) else {
                throw root.error("log_level", "expected one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), found \(ConfigObject.shown(text))")
            }
            level = parsed
        }
        var format = LogFormat.text
        if let text = try root.optionalString("log_format") {
            guard let parsed = LogFormat(rawValue: text) else {
                throw root.error("log_format", "expected one of \(LogFormat.allCases.map(\.rawValue).joined(separator: ", ")), found \(ConfigObject.shown(text))")
            }
            format = parsed
        }
        let tokens = try tokenGrants(root, log: log)
        var configuration = NodeConfiguration(
            file: file, node: node, dataDirectory: try root.filePath("data"), log: log,
            peerListen: try peer.address("listen"), apiListen: try api.address("listen"),
            caCertificate: try tls.filePath("ca"), certificate: try tls.filePath("certificate"), privateKey: try tls.filePath("key"),
            federationFile: try root.filePath("federation"), logLevel: level)
        configuration.tokens = tokens
        configuration.logFormat = format
        if tls.values["crl"] != nil { configuration.revocationList = try tls.filePath("crl") }
        configuration.peerReadBudget = readBudget
        // One port on two addresses where either is a wildcard (0.0.0.0, ::) overlaps too.
        let wildcard: Set<String> = ["0.0.0.0", "::", "[::]", "*"]
        guard configuration.peerListen != configuration.apiListen
            && !(configuration.peerListen.port == configuration.apiListen.port
                 && (wildcard.contains(configuration.peerListen.host) || wildcard.contains(configuration.apiListen.host))) else {
            throw root.error("api.listen", "the API and the peer port cannot share an address (api \(configuration.apiListen), peer \(configuration.peerListen); a wildcard address takes its port on every address)")
        }
        for (key, path) in [("tls.ca", configuration.caCertificate), ("tls.certificate", configuration.certificate),
                            ("tls.key", configuration.privateKey), ("federation", configuration.federationFile)]
            + (configuration.revocationList.map { [("tls.crl", $0)] } ?? []) {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ConfigurationError(file: file, key: key, "expected a readable file, but \(path) \(FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist")")
            }
            // A FIFO or a device would hang the reader or feed it for ever (and OpenSSL then
            // says "permission denied"): only regular files, symlinks to them followed.
            let type = (try? FileManager.default.attributesOfItem(atPath: (path as NSString).resolvingSymlinksInPath)[.type]) as? FileAttributeType
            guard type == .typeRegular else {
                let what: String = switch type {
                case .typeDirectory?: "a directory"
                case .typeCharacterSpecial?: "a character device"
                case .typeBlockSpecial?: "a block device"
                case .typeSocket?: "a socket"
                default: "not a regular file (a FIFO?)"
                }
                throw ConfigurationError(file: file, key: key, "expected a regular file, but \(path) is \(what)")
            }
        }
        return configuration
    }

    /// The token grants of a configuration (`tokens`), an operator's for `log`.
    static func tokenGrants(_ root: ConfigObject, log: String) throws(ConfigurationError) -> [TokenGrant] {
        var tokens: [TokenGrant] = []
        if root.values["tokens"] != nil {
            for entry in try root.objects("tokens") {
                try entry.refuseUnknownKeys(["name", "role", "sha256"])
                let name = try entry.string("name")
                guard FederationPKI.isValidNodeID(name) else { throw entry.error("name", "expected a name of a-z, 0-9 and '-', found \(ConfigObject.shown(name))") }
                let role = try entry.string("role")
                let identity: FederationIdentity
                switch role {
                case "reader": identity = .reader(name)
                case "auditor": identity = .auditor(name)
                case "operator": identity = .operator(log)
                default: throw entry.error("role", "expected one of reader, operator, auditor, found \(ConfigObject.shown(role))")
                }
                let hex = try entry.string("sha256")
                guard let digest = TokenGrant.parseHex(hex), digest.count == 32 else {
                    // The token itself pasted here is not repeated (the error reaches the journal
                    // and `config check`'s output): only what it looks like.
                    let found = hex.contains("qt_") ? "what looks like a token itself (not shown: put its SHA-256 here, and the token only with its holder)" : "\"\(hex.prefix(80))\""
                    throw entry.error("sha256", "expected the token's SHA-256 as 64 hex digits (`quartet token new` prints it), found \(found)")
                }
                guard !tokens.contains(where: { $0.sha256 == digest }) else { throw entry.error("sha256", "the same token is listed twice") }
                // The name is how entries name who appended ("token alice"): one name, one token.
                guard !tokens.contains(where: { $0.name == name }) else { throw entry.error("name", "another token is named \(name); a name says which token appended, so each must be one token's") }
                tokens.append(TokenGrant(name: name, identity: identity, sha256: digest))
            }
        }
        return tokens
    }

    /// The token grants a configuration file lists now, read alone, for a reload that cannot
    /// load the rest of the file (a TLS file missing or not yet readable, a typo elsewhere): a
    /// token taken out of the file must be refused all the same. When even the token list does
    /// not read (the file is not JSON, the list is malformed), only the grants in force whose
    /// SHA-256 still appears in the file's bytes are kept; when the file cannot be read at all,
    /// none is. `log` is the node's log (an operator's token stands for it).
    public static func tokenGrantsStillListed(path: String, log: String, inForce: [TokenGrant]) -> (grants: [TokenGrant], how: String) {
        guard let data = try? ConfigObject.read(path, what: "configuration file") else {
            return ([], "the configuration file cannot be read, so no token is confirmed")
        }
        if let root = try? ConfigObject(file: path, data: data), let grants = try? tokenGrants(root, log: log) {
            return (grants, "its token list read alone")
        }
        let text = String(decoding: data, as: UTF8.self).lowercased()
        return (inForce.filter { text.contains(TokenGrant.hex($0.sha256)) }, "its token list does not read: only tokens whose SHA-256 is still in the file are kept")
    }

    /// The revocation lists `tls.crl` names (none if it names none), for a command-line client
    /// of this node's API: a certificate they revoke (a stolen node key) is refused as the node.
    public func clientRevocationLists() throws -> [RevocationList] {
        guard let revocationList else { return [] }
        do { return try RevocationList.all(pem: try ConfigObject.readPEM(revocationList, what: "revocation list")) } catch {
            throw ConfigurationError(file: file, key: "tls.crl", "\(revocationList): \(error)")
        }
    }
}

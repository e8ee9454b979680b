import Foundation
import QuartetCrypto

/// Where a client command (`import plan`, `record`, `view`, `agreement`, `audit`) reaches a
/// node: from the node's own configuration file on its host, or from a client file anywhere
/// else (an operator's workstation), which names the node, its log, its API URL and the
/// federation CA, and holds no key of the node's (docs/formats.md, "Client file"):
///
/// ```json
/// {"node": "wales", "log": "wales", "api": "https://wales.example.org:8400", "tls": {"ca": "ca.pem"}}
/// ```
public struct ClientConfiguration: Sendable {
    /// The file it was read from (relative paths in it are relative to its folder).
    public var file: String
    /// The node's id: its certificate must carry `quartet://node/<id>`.
    public var node: String
    public var log: String
    /// The address dialled (a node's wildcard listening address becomes 127.0.0.1).
    public var address: HostPort
    public var caCertificate: String
    public var revocationList: String?
    /// The tokens the node grants (their digests): only a node's own configuration lists them.
    public var tokens: [TokenGrant] = []
    /// The node's own certificate and key (its configuration, on its host): the credential used
    /// when no other is given. A client file has none.
    public var nodeCredential: (certificate: String, key: String)?

    /// A node's configuration, read as a client reads it.
    public init(_ configuration: NodeConfiguration) {
        file = configuration.file
        node = configuration.node
        log = configuration.log
        let host = ["0.0.0.0", "::", "[::]"].contains(configuration.apiListen.host) ? "127.0.0.1" : configuration.apiListen.host
        address = HostPort(host: host, port: configuration.apiListen.port)
        caCertificate = configuration.caCertificate
        revocationList = configuration.revocationList
        tokens = configuration.tokens
        nodeCredential = (configuration.certificate, configuration.privateKey)
    }

    /// Reads `path`: a client file (its `api` a URL), or else a node's configuration.
    public static func load(path: String) throws(ConfigurationError) -> ClientConfiguration {
        let data = try ConfigObject.read(path, what: "configuration file")
        let root = try ConfigObject(file: path, data: data)
        guard root.values["api"] is String else { return ClientConfiguration(try NodeConfiguration.parse(data, file: path)) }
        return try parseClientFile(root, file: path)
    }

    private init(file: String, node: String, log: String, address: HostPort, caCertificate: String, revocationList: String?) {
        self.file = file
        self.node = node
        self.log = log
        self.address = address
        self.caCertificate = caCertificate
        self.revocationList = revocationList
    }

    private static func parseClientFile(_ root: ConfigObject, file: String) throws(ConfigurationError) -> ClientConfiguration {
        try root.refuseUnknownKeys(["node", "log", "api", "tls"])
        let (node, log) = try NodeConfiguration.nodeAndLog(root)
        // As the federation file writes a member's `api`: https://HOST[:PORT], nothing else.
        let api = try root.string("api")
        guard api.utf8.count <= 2048, api.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }), let url = URL(string: api), url.scheme == "https",
              url.query == nil, url.fragment == nil, url.path.isEmpty || url.path == "/", !api.contains("?"), !api.contains("#"),
              let host = Federation.apiHost(of: api), Federation.isASCIIHost(host), url.host.map(Federation.unbracketed)?.lowercased() == host.lowercased() else {
            throw root.error("api", "expected the node's API as https://HOST[:PORT] (as the federation file lists it), found \"\(Federation.shown(api.prefix(200)))\"")
        }
        let port = url.port ?? 443
        guard (1...65535).contains(port) else { throw root.error("api", "the port must be from 1 to 65535, found \(port)") }
        let tls = try root.object("tls")
        try tls.refuseUnknownKeys(["ca", "crl"])
        let ca = try tls.filePath("ca")
        let crl = tls.values["crl"] != nil ? try tls.filePath("crl") : nil
        for (key, path) in [("tls.ca", ca)] + (crl.map { [("tls.crl", $0)] } ?? []) {
            _ = try ConfigObject.readPEM(path, what: key == "tls.ca" ? "certificate" : "revocation list")
        }
        return ClientConfiguration(file: file, node: node, log: log, address: HostPort(host: Federation.unbracketed(host), port: port),
                                   caCertificate: ca, revocationList: crl)
    }

    /// The certificate revocation lists a client checks the node's certificate against.
    public func clientRevocationLists() throws -> [RevocationList] {
        guard let revocationList else { return [] }
        do { return try RevocationList.all(pem: try ConfigObject.readPEM(revocationList, what: "revocation list")) } catch {
            throw ConfigurationError(file: file, key: "tls.crl", "\(revocationList): \(error)")
        }
    }

    /// `https://host:port`, for messages.
    public var shownAddress: String { "https://\(address)" }
}

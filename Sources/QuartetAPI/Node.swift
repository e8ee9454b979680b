/// The node itself: health, peers, alerts (docs/openapi.yaml: `/healthz`, `/v1/peers`,
/// `/v1/alerts`).

/// `GET /healthz`: `ok` (200), or `unavailable` with the reason (503).
public struct HealthResponse: Codable, Sendable, Equatable {
    public var status: String
    public var node: String
    public var error: String?

    public init(status: String, node: String, error: String? = nil) {
        self.status = status
        self.node = node
        self.error = error
    }
}

/// `GET /readyz`: whether the node is ready for traffic (200) or not (503), and why not.
public struct ReadyResponse: Codable, Sendable, Equatable {
    /// `ready` or `not ready`.
    public var status: String
    public var node: String
    /// What keeps it from being ready (empty when ready).
    public var reasons: [String]

    public init(status: String, node: String, reasons: [String]) {
        self.status = status
        self.node = node
        self.reasons = reasons
    }
}

/// `GET /v1/peers`: the other members and whether this node is connected to them.
public struct PeersResponse: Codable, Sendable, Equatable {
    /// One member.
    public struct Peer: Codable, Sendable, Equatable {
        public var node: String
        public var role: String
        /// Its replication address.
        public var peer: String
        public var connected: Bool
        /// When the connection was made (ISO 8601), while connected.
        public var since: String?
        /// The replication protocol version agreed with it, while connected.
        public var protocolVersion: Int?

        enum CodingKeys: String, CodingKey {
            case node, role, peer, connected, since
            case protocolVersion = "protocol_version"
        }

        public init(node: String, role: String, peer: String, connected: Bool, since: String? = nil, protocolVersion: Int? = nil) {
            self.node = node
            self.role = role
            self.peer = peer
            self.connected = connected
            self.since = since
            self.protocolVersion = protocolVersion
        }
    }

    public var node: String
    public var peers: [Peer]

    public init(node: String, peers: [Peer]) {
        self.node = node
        self.peers = peers
    }
}

/// `GET /v1/alerts`: replication alerts and quarantined logs with their evidence.
public struct AlertsResponse: Codable, Sendable, Equatable {
    /// One alert.
    public struct Alert: Codable, Sendable, Equatable {
        public var time: String
        public var kind: String
        public var message: String
        public var log: String?
        public var peer: String?

        public init(time: String, kind: String, message: String, log: String? = nil, peer: String? = nil) {
            self.time = time
            self.kind = kind
            self.message = message
            self.log = log
            self.peer = peer
        }
    }

    /// Two checkpoints of one log that no append-only history explains, with the proof.
    public struct Evidence: Codable, Sendable, Equatable {
        public var log: String
        /// The two signed notes.
        public var first: String
        public var second: String
        public var prefixRoot: String
        public var proof: [String]

        public init(log: String, first: String, second: String, prefixRoot: String, proof: [String]) {
            self.log = log
            self.first = first
            self.second = second
            self.prefixRoot = prefixRoot
            self.proof = proof
        }

        enum CodingKeys: String, CodingKey {
            case log, first, second, proof
            case prefixRoot = "prefix_root"
        }
    }

    public var node: String
    public var alerts: [Alert]
    public var quarantined: [Evidence]

    public init(node: String, alerts: [Alert], quarantined: [Evidence]) {
        self.node = node
        self.alerts = alerts
        self.quarantined = quarantined
    }
}

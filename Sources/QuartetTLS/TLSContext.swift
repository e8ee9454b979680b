internal import COpenSSL
import QuartetCrypto
import Synchronization

/// A TLS failure, with OpenSSL's reasons.
public struct TLSError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure.
    public enum Code: String, Sendable {
        /// Certificates, keys or trust roots that cannot be loaded.
        case configuration
        /// The handshake failed (a certificate refused, a protocol version refused, garbage).
        case handshakeFailed = "handshake-failed"
        /// The handshake did not finish in time.
        case handshakeTimeout = "handshake-timeout"
        /// The peer's certificate verified but names another identity than the one required.
        case peerIdentity = "peer-identity"
        /// A TLS error after the handshake.
        case protocolError = "protocol-error"
    }

    public let code: Code
    public let message: String
    /// OpenSSL's error queue, oldest first.
    public let openSSLErrors: [String]

    public init(_ code: Code, _ message: String, openSSLErrors: [String] = []) {
        self.code = code
        self.message = message
        self.openSSLErrors = openSSLErrors
    }

    public var description: String {
        openSSLErrors.isEmpty ? message : "\(message): \(openSSLErrors.joined(separator: "; "))"
    }
}

/// An OpenSSL `SSL_CTX` for one side of Quartet's TLS 1.3 connections, built once (off the event
/// loop) and shared by every connection it makes.
public final class TLSContext: @unchecked Sendable {
    // SSL_CTX is safe to share between threads once configured; it is never changed after init.
    let ctx: OpaquePointer
    /// Which side of the handshake connections made from this context take.
    public let role: Role

    /// The connections whose peer's certificate this context verified, open now: each with how
    /// to close it. `retire` closes them all (the trust roots they were verified against are no
    /// longer the node's), and a connection completing its handshake after that is closed at once.
    private let verified = Mutex<(next: UInt64, closers: [UInt64: @Sendable (String) -> Void], retired: String?)>((0, [:], nil))

    /// Registers an open connection whose peer's certificate this context verified; a failure
    /// when the context was retired (the caller closes the connection with the reason).
    func register(_ close: @escaping @Sendable (String) -> Void) -> Result<UInt64, RetiredContext> {
        verified.withLock { state in
            if let reason = state.retired { return .failure(RetiredContext(reason: reason)) }
            state.next &+= 1
            state.closers[state.next] = close
            return .success(state.next)
        }
    }

    /// The connection registered as `id` closed.
    func unregister(_ id: UInt64) {
        _ = verified.withLock { $0.closers.removeValue(forKey: id) }
    }

    /// Why a retired context verifies no more connections.
    struct RetiredContext: Error { let reason: String }

    /// Closes every open connection whose peer's certificate this context verified, saying
    /// `reason`, and any that completes its handshake later: the trust roots changed (a CA
    /// replaced after a compromise must not leave the old CA's certificates connected).
    public func retire(reason: String) {
        let closers = verified.withLock { state -> [@Sendable (String) -> Void] in
            state.retired = reason
            defer { state.closers = [:] }
            return Array(state.closers.values)
        }
        for close in closers { close(reason) }
    }

    /// Connections open now whose peer's certificate this context verified (for tests).
    public var verifiedConnections: Int { verified.withLock { $0.closers.count } }

    /// The side of the handshake.
    public enum Role: Sendable {
        case server
        case client
    }

    /// Whether a server asks for and requires a client certificate.
    public enum ClientAuthentication: Sendable {
        /// Mutual TLS: a client without a certificate from the trust roots is refused (peer port).
        case required
        /// A client may present a certificate; without one the handshake still completes (API port).
        case optional
    }

    /// Loads `certificateChain` (PEM, leaf first), `privateKey` (PEM) and `trustRoots` (PEM CA
    /// certificates). TLS 1.3 only; peers are verified against `trustRoots`, and with
    /// `revocationLists` (one per CA, checked by the caller: `RevocationList.check`) a peer whose
    /// certificate one revokes is refused, the lists' dates aside (a stale list still names what
    /// it revoked). A client may go without a certificate (nil chain and key), e.g. to
    /// authenticate with a bearer token.
    public init(role: Role, certificateChain: String?, privateKey: String?, trustRoots: String,
                clientAuthentication: ClientAuthentication = .required, revocationLists: [RevocationList] = []) throws(TLSError) {
        guard let ctx = SSL_CTX_new(TLS_method()) else {
            throw TLSError(.configuration, "SSL_CTX_new failed", openSSLErrors: drainOpenSSLErrors())
        }
        self.ctx = ctx
        self.role = role
        func check(_ ok: Bool, _ what: String) throws(TLSError) {
            if !ok { throw TLSError(.configuration, what, openSSLErrors: drainOpenSSLErrors()) }
        }
        try check(quartet_SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1
                  && quartet_SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1, "cannot limit TLS to version 1.3")
        // Key exchange by X25519 or P-256 only. OpenSSL's default list also offers finite-field
        // groups up to ffdhe8192, ~10 ms of CPU a handshake here (X25519: 0.04 ms): a stranger
        // sending ClientHellos with only that share, before any certificate is asked for, could
        // keep both cores busy from one address.
        try check(quartet_SSL_CTX_set1_groups_list(ctx, Self.groups) == 1, "cannot set the key exchange groups \(Self.groups)")
        if let certificateChain, let privateKey {
            try check(SSL_CTX_use_certificate_chain_file(ctx, certificateChain) == 1, "cannot load certificate chain \(certificateChain)")
            try check(SSL_CTX_use_PrivateKey_file(ctx, privateKey, SSL_FILETYPE_PEM) == 1, "cannot load private key \(privateKey)")
            try check(SSL_CTX_check_private_key(ctx) == 1, "private key \(privateKey) does not match certificate \(certificateChain)")
        } else {
            try check(role == .client && certificateChain == nil && privateKey == nil, "a server needs a certificate and key; a client gives both or neither")
        }
        try check(SSL_CTX_load_verify_locations(ctx, trustRoots, nil) == 1, "cannot load trust roots \(trustRoots)")
        if !revocationLists.isEmpty {
            let store = SSL_CTX_get_cert_store(ctx)
            try check(store != nil, "no trust store")
            for list in revocationLists {
                try check(X509_STORE_add_crl(store, list.crl) == 1, "cannot add a revocation list to the trust store")
            }
            try check(X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK)) == 1, "cannot turn on the revocation check")
        }
        let verify = { (mode: Int32) in
            if revocationLists.isEmpty { SSL_CTX_set_verify(ctx, mode, nil) } else { quartet_SSL_CTX_set_verify_tolerating_crl_dates(ctx, mode) }
        }
        switch role {
        case .server:
            let mode = clientAuthentication == .required ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
            verify(mode)
            if let names = SSL_load_client_CA_file(trustRoots) { SSL_CTX_set_client_CA_list(ctx, names) }
            // Every handshake is a full one: no TLS 1.3 tickets (SSL_OP_NO_TICKET alone does not
            // stop them), no session cache, nothing to protect or rotate.
            SSL_CTX_set_options(ctx, quartet_SSL_OP_NO_TICKET())
            try check(SSL_CTX_set_num_tickets(ctx, 0) == 1, "cannot turn off session tickets")
            _ = quartet_SSL_CTX_set_session_cache_off(ctx)
        case .client:
            verify(SSL_VERIFY_PEER)
        }
        _ = drainOpenSSLErrors()
    }

    /// The key exchange groups offered and accepted (OpenSSL's names).
    public static let groups = "X25519:P-256"

    deinit { SSL_CTX_free(ctx) }
}

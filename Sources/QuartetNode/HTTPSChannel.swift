import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypesHTTP1
import QuartetCrypto
import QuartetTLS

/// Wraps a Hummingbird child channel (HTTP/1.1) in Quartet's OpenSSL TLS handler, in the way
/// HummingbirdTLS's `TLSChannel` wraps one in NIOSSL: TLS first in the pipeline, then the base
/// channel's handlers.
public struct QuartetTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value

    let base: Base
    /// Read for each connection (a reload replaces the certificate).
    let context: @Sendable () -> TLSContext
    let policy: TLSPeerPolicy
    let handshakeTimeout: TimeAmount
    let logger: Logger
    let cap: ConnectionCap.Counter?

    init(_ base: Base, context: @escaping @Sendable () -> TLSContext, policy: TLSPeerPolicy, handshakeTimeout: TimeAmount, logger: Logger, cap: ConnectionCap.Counter? = nil) {
        self.cap = cap
        self.base = base
        self.context = context
        self.policy = policy
        self.handshakeTimeout = handshakeTimeout
        self.logger = logger
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // Without TCP_NODELAY each small response waits ~40 ms for a delayed ACK.
            try channel.syncOptions?.setOption(.socketOption(.tcp_nodelay), value: 1)
            if let cap { try channel.pipeline.syncOperations.addHandler(ConnectionCap(cap)) }
            try channel.pipeline.syncOperations.addHandler(
                TLSHandler(context: context(), policy: policy, handshakeTimeout: handshakeTimeout, logger: self.logger, refusalLines: TLSHandler.apiRefusals))
            if let cap { try channel.pipeline.syncOperations.addHandler(ConnectionCap.AfterHandshake(cap)) }
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            // The version's rules, before the request becomes an `HTTPRequest`, which has none.
            let codec = try channel.pipeline.syncOperations.handler(type: HTTP1ToHTTPServerCodec.self)
            try channel.pipeline.syncOperations.addHandler(HTTPVersionRules(), position: .before(codec))
            return value
        }
    }

    public func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 over Quartet's TLS 1.3 handler.
    /// Connections past `limits.maxAPIConnections` are closed as they arrive, unless they take
    /// a reserve slot and show a certificate `keepsReserve` accepts; requests must keep to
    /// `limits`' deadlines.
    static func quartetTLS(context: @escaping @Sendable () -> TLSContext, policy: TLSPeerPolicy = .anyCertificate, handshakeTimeout: TimeAmount = .seconds(10),
                           limits: ConnectionLimits = ConnectionLimits(), cap: ConnectionCap.Counter? = nil,
                           keepsReserve: @escaping @Sendable (FederationIdentity) -> Bool = { _ in false }, metrics: NodeMetrics? = nil, logger: Logger) -> HTTPServerBuilder {
        let counter = cap ?? ConnectionCap.Counter(limits: limits, keepsReserve: keepsReserve)
        // The port's large responses not yet taken, bounded together.
        let budget = ResponseBudget()
        return .init { responder in
            QuartetTLSChannel(HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: [RequestDeadlineHandler(limits: limits, slots: counter, budget: budget),
                                                                                                             ExchangeHandler(metrics: metrics, logger: logger)])),
                              context: context, policy: policy, handshakeTimeout: handshakeTimeout, logger: logger, cap: counter)
        }
    }
}

import HummingbirdCore
import NIOConcurrencyHelpers
import Synchronization
import NIOCore
import NIOHTTPTypes
import QuartetCrypto
import QuartetTLS

/// Counts a port's open connections and closes those past the cap at once (before TLS, so a
/// flood costs no handshakes), keeping a reserve that only certificate holders keep
/// (`ConnectionSlots`). One instance per listening port: the API port and the peer port
/// have separate caps, so clients cannot take the file descriptors peers need. Sits first in
/// the pipeline; `ConnectionCap.AfterHandshake` sits after the TLS handler.
final class ConnectionCap: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    /// The slots shared by every connection of one port, and the channels holding them (to
    /// close one whose reserve slot a newcomer took).
    final class Counter: Sendable {
        private struct State {
            var slots: ConnectionSlots<ObjectIdentifier>
            var channels: [ObjectIdentifier: any Channel] = [:]
            /// Provisional connections waiting for their first request's credentials, and
            /// those to close once their response is written.
            var awaiting: Set<ObjectIdentifier> = []
            var closing: Set<ObjectIdentifier> = []
        }
        private let state: NIOLockedValueBox<State>
        /// `awaiting.count + closing.count`, read without the lock on every request and
        /// response (nearly always 0).
        private let watched = Atomic<Int>(0)
        /// Which certificate identities keep a reserve slot (the federation in force is read per
        /// connection).
        let keepsReserve: @Sendable (FederationIdentity) -> Bool
        /// Whether a provisional connection without such a certificate waits for its first
        /// request's credentials (the API port) rather than being closed after its handshake.
        let awaitsCredentials: Bool
        init(limit: Int, perAddress: Int, reserve: Int, reservePerAddress: Int, reservePerIdentity: Int,
             credentialPool: Int = 0, credentialPerIdentity: Int = 0,
             keepsReserve: @escaping @Sendable (FederationIdentity) -> Bool) {
            state = NIOLockedValueBox(State(slots: ConnectionSlots(limit: limit, perAddress: perAddress, reserve: reserve, reservePerAddress: reservePerAddress,
                                                                   reservePerIdentity: reservePerIdentity, credentialPool: credentialPool,
                                                                   credentialPerIdentity: credentialPerIdentity,
                                                                   displacedCooldownMillis: Self.displacedCooldownMillis,
                                                                   displaceableAfterMillis: Self.displaceableAfterMillis)))
            self.keepsReserve = keepsReserve
            awaitsCredentials = credentialPool > 0
        }

        /// The API port's slots under `limits`.
        convenience init(limits: ConnectionLimits, keepsReserve: @escaping @Sendable (FederationIdentity) -> Bool) {
            self.init(limit: limits.maxAPIConnections, perAddress: limits.maxAPIConnectionsPerAddress,
                      reserve: limits.reservedAPIConnections, reservePerAddress: limits.reservedConnectionsPerAddress,
                      reservePerIdentity: limits.reservedConnectionsPerIdentity, credentialPool: limits.credentialAPIConnections,
                      credentialPerIdentity: limits.credentialConnectionsPerIdentity, keepsReserve: keepsReserve)
        }

        /// How long an address whose provisional connection was displaced displaces no other
        /// (`ConnectionSlots.displacedCooldownMillis`): longer than any honest handshake takes.
        static let displacedCooldownMillis: UInt64 = 10_000
        /// How old a connection in its handshake must be before a newcomer may displace it
        /// (`ConnectionSlots.displaceableAfterMillis`): an honest handshake ends well within it.
        static let displaceableAfterMillis: UInt64 = 1_000

        private func recount(_ state: State) { watched.store(state.awaiting.count + state.closing.count, ordering: .relaxed) }

        /// Whether `channel` may stay; a displaced provisional connection is closed.
        func enter(_ channel: any Channel) -> Bool {
            let id = ObjectIdentifier(channel)
            let address = channel.remoteAddress.map(Self.key) ?? "?"
            let (admission, displaced) = state.withLockedValue { state -> (ConnectionSlots<ObjectIdentifier>.Admission, (any Channel)?) in
                let admission = state.slots.enter(id, address: address, now: NIODeadline.now().uptimeNanoseconds / 1_000_000)
                if admission != .refused { state.channels[id] = channel }
                guard case .provisional(let victim?) = admission else { return (admission, nil) }
                if state.awaiting.remove(victim) != nil { recount(state) }
                return (admission, state.channels.removeValue(forKey: victim))
            }
            displaced?.close(promise: nil)
            return admission != .refused
        }

        func handshakeCompleted(_ channel: any Channel, peer: FederationIdentity?) -> Bool {
            let id = ObjectIdentifier(channel)
            let certified = peer.flatMap { keepsReserve($0) ? $0.uri : nil }
            return state.withLockedValue { state in
                let stays = state.slots.handshakeCompleted(id, certifiedAs: certified, awaitingCredentials: awaitsCredentials)
                if !stays { state.channels[id] = nil }
                if stays && state.slots.awaitsCredentials(id) {
                    state.awaiting.insert(id)
                    recount(state)
                }
                return stays
            }
        }

        /// A request arrived on connection `id` with `credential` (nil: none the node accepts).
        /// Returns false when the connection must close once it is answered: a provisional one
        /// whose first request brought no credentials, or no room for them.
        func request(on id: ObjectIdentifier, credential: @autoclosure () -> String?) -> Bool {
            guard watched.load(ordering: .relaxed) > 0 else { return true }
            return state.withLockedValue { state in
                guard state.awaiting.remove(id) != nil else { return true }
                let stays = state.slots.firstRequest(id, credential: credential())
                // Kept (counted, displaceable) until it is closed and leaves.
                if !stays { state.closing.insert(id) }
                recount(state)
                return stays
            }
        }

        /// Whether the connection is to close once its response is written (`closesAfterResponse`
        /// then says so once).
        func willCloseAfterResponse(_ id: ObjectIdentifier) -> Bool {
            watched.load(ordering: .relaxed) > 0 && state.withLockedValue { $0.closing.contains(id) }
        }

        /// Whether the connection must close now its response is written.
        func closesAfterResponse(_ id: ObjectIdentifier) -> Bool {
            guard watched.load(ordering: .relaxed) > 0 else { return false }
            return state.withLockedValue { state in
                guard state.closing.remove(id) != nil else { return false }
                recount(state)
                return true
            }
        }

        /// Whether connection `id` waits for its first request's credentials.
        func awaitsFirstRequest(_ id: ObjectIdentifier) -> Bool {
            watched.load(ordering: .relaxed) > 0 && state.withLockedValue { $0.awaiting.contains(id) }
        }

        func leave(_ channel: any Channel) {
            let id = ObjectIdentifier(channel)
            state.withLockedValue { state in
                if state.awaiting.remove(id) != nil || state.closing.remove(id) != nil { recount(state) }
                guard state.channels.removeValue(forKey: id) != nil else { return }
                state.slots.leave(id)
            }
        }

        /// Closes the connections whose certificate no longer keeps the reserve
        /// (`certifiedKeeps`, by identity URI) or whose credential slot's credential the node no
        /// longer accepts (`credentialValid`): after a reload, a removed member or token does
        /// not keep slots the node holds for those it trusts until the connection ages out
        /// (finding 284). Returns how many were closed.
        @discardableResult
        func closeUntrusted(certifiedKeeps: (String) -> Bool, credentialValid: (String) -> Bool) -> Int {
            let doomed = state.withLockedValue { state in
                state.slots.holders { certified, credentialed in
                    if let certified { return !certifiedKeeps(certified) }
                    if let credentialed { return !credentialValid(credentialed) }
                    return false
                }.compactMap { state.channels[$0] }
            }
            for channel in doomed { channel.close(promise: nil) }
            return doomed.count
        }

        var inUse: (shared: Int, reserve: Int, credential: Int) { state.withLockedValue { ($0.slots.sharedInUse, $0.slots.reserveInUse, $0.slots.credentialInUse) } }

        static func key(_ address: SocketAddress) -> String {
            switch address {
            case .v4(let v4):
                return withUnsafeBytes(of: v4.address.sin_addr) { SlotAddress.key(ipv4: Array($0)) }
            case .v6(let v6):
                return withUnsafeBytes(of: v6.address.sin6_addr) { SlotAddress.key(ipv6: Array($0)) }
            case .unixDomainSocket:
                return "unix"
            }
        }
    }

    /// Closes a provisional connection whose handshake completed without a certificate that
    /// keeps the reserve, and marks a certified one as kept.
    final class AfterHandshake: ChannelInboundHandler, RemovableChannelHandler, Sendable {
        typealias InboundIn = NIOAny
        private let counter: Counter
        init(_ counter: Counter) { self.counter = counter }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted(let peer, _)? = event as? TLSEvent {
                guard counter.handshakeCompleted(context.channel, peer: peer) else {
                    context.close(promise: nil)
                    return
                }
            }
            context.fireUserInboundEventTriggered(event)
        }
    }

    private let counter: Counter
    private let admitted = NIOLockedValueBox(false)

    init(_ counter: Counter) { self.counter = counter }

    func handlerAdded(context: ChannelHandlerContext) {
        let admitted = counter.enter(context.channel)
        self.admitted.withLockedValue { $0 = admitted }
    }

    func channelActive(context: ChannelHandlerContext) {
        guard admitted.withLockedValue({ $0 }) else {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        let was = admitted.withLockedValue { value -> Bool in
            defer { value = false }
            return value
        }
        if was { counter.leave(context.channel) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        handlerRemoved(context: context)
        context.fireChannelInactive()
    }
}

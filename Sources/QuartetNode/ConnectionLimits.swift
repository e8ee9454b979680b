import HummingbirdCore
import NIOConcurrencyHelpers
import Synchronization
import NIOCore
import NIOHTTPTypes
import QuartetCrypto
import QuartetTLS

/// How many connections a port holds at once, and for how long one may sit without finishing a
/// request. Defaults are written beside each field.
public struct ConnectionLimits: Sendable, Equatable {
    /// Connections held at once on the API port; more are closed as they arrive. Default 256.
    public var maxAPIConnections = 256
    /// Connections held at once on the peer port; a federation needs two per member at most.
    /// Default 64.
    public var maxPeerConnections = 64
    /// From the connection's start (TLS included), the first request head must arrive within
    /// this. Default 10 s.
    public var firstRequestTimeout = TimeAmount.seconds(10)
    /// Between requests on a kept-alive connection. Default 30 s.
    public var idleTimeout = TimeAmount.seconds(30)
    /// From a request's head to its end (bodies are at most 16 MiB). Default 60 s.
    public var requestTimeout = TimeAmount.seconds(60)
    /// How long a response may wait on a client that takes none of it (the connection stays
    /// unwritable and no 64 KiB part of the response reaches the socket): then the connection
    /// is closed. Default 30 s, as the peer port's write-progress limit. What a client takes
    /// earns it time at `minDrainBytesPerSecond`, up to this much.
    public var writeStallTimeout = TimeAmount.seconds(30)
    /// While a response waits on the client (the connection unwritable), each part of it the
    /// client takes moves that deadline on by the time the part takes at this rate, never
    /// further than `writeStallTimeout` ahead: a reader taking a large answer at least this
    /// fast is kept, one trickling it slower (holding the answer's memory and a slot for
    /// hours by taking 64 KiB every 29 s) runs out of time. Default 16 KiB/s (a 4 MiB page
    /// in about four minutes at worst).
    public var minDrainBytesPerSecond = 16 << 10
    /// Requests one API connection may have read and not yet answered (pipelined, RFC 9112
    /// §9.3.2): the one that reaches it is the connection's last (its answer says `Connection:
    /// close`, what comes after it is neither run nor answered; the client sends it again on a
    /// new connection). A client that pipelined thousands of tiny requests and read nothing had
    /// every one of them run and answered into memory (about 2.8 MB a connection). Reads stop,
    /// besides, while `pipelineReadAhead` are unanswered. Default 32.
    public var maxPipelinedRequests = 32
    /// Connections from one address at once, per port: one source cannot take a port's whole
    /// cap. Defaults: 128 on the API (half the cap: a gateway or a host of several clients fits,
    /// and each member's witness and checkpoint reads hold two more), 32 on the peer port (a
    /// member needs two at most; members on one host, as in the demo, share an address).
    public var maxAPIConnectionsPerAddress = 128
    public var maxPeerConnectionsPerAddress = 32
    /// Slots beyond the shared ones, per port, that only connections presenting a federation
    /// certificate keep (members, operators): a connection the shared slots refuse is let in
    /// provisionally and closed after its handshake if it shows none (`ConnectionSlots`).
    /// Defaults: 32 on each port; 16 from one address in their handshake at once (certified
    /// ones do not count: the demo's members share one); 8 per certificate identity.
    public var reservedAPIConnections = 32
    public var reservedPeerConnections = 32
    public var reservedConnectionsPerAddress = 16
    public var reservedConnectionsPerIdentity = 8
    /// On the API port, slots for connections let in provisionally that showed no member's
    /// certificate but whose first request carried credentials the node accepts (a reader's
    /// or auditor's token or sign-in): 32, at most 4 per credential (`ConnectionSlots`).
    public var credentialAPIConnections = 32
    public var credentialConnectionsPerIdentity = 4
    /// An API connection is closed after the response that ends past this age (clients
    /// reconnect; nobody holds a slot for ever). Default 15 min.
    public var maxConnectionAge = TimeAmount.minutes(15)

    public init() {}

    /// The write-stall deadline after the client took `bytes` of a response at `now`, from
    /// `deadline`: moved on by the time the bytes take at `minDrainBytesPerSecond`, at most
    /// `writeStallTimeout` from now.
    func stallDeadline(_ deadline: NIODeadline, took bytes: Int, now: NIODeadline) -> NIODeadline {
        let credit = TimeAmount.nanoseconds(Int64(bytes) * 1_000_000_000 / Int64(max(1, minDrainBytesPerSecond)))
        return min(now + writeStallTimeout, deadline + credit)
    }
}

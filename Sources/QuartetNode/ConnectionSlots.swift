/// Which connections a port holds, decided before and just after TLS (no IO: the handlers in
/// `ConnectionCap.swift` carry it out, `ConnectionSlotsTests` tests it).
///
/// Before TLS nothing is known of a connection but its address, so anyone can take the shared
/// slots (`limit`, at most `perAddress` from one address): two addresses with no credentials
/// could hold a whole port, and with it the other members' witness requests and checkpoint
/// reads, which arrive on the API port. So a port also keeps `reserve` slots that only
/// connections presenting a federation certificate may keep:
/// - A connection the shared slots refuse (full, or its address at its share) is let in
///   *provisionally* to the reserve, at most `reservePerAddress` from one address.
/// - Once its handshake completes, a provisional connection with a certificate that keeps the
///   reserve (a member node's, an operator's of a federation log: the TLS context has checked
///   it against the federation CA, the handler checks it against the federation in force)
///   keeps its slot; any other is closed before it can send a request.
/// - When the reserve is full, a newcomer takes the slot of the oldest provisional connection
///   still in its handshake from the address holding the most such connections, provided that
///   address holds more of them than the newcomer's; certified connections are never
///   displaced. At most `reservePerAddress` of an address's connections may be in their
///   handshake in the reserve at once (its certified ones do not count).
///   A few addresses stalling handshakes cannot keep a member out: the member's address holds
///   fewer, so the stalled ones give way. An address whose connection was displaced displaces
///   no other for `displacedCooldownMillis`, and a connection younger than
///   `displaceableAfterMillis` is not displaced: more addresses than the reserve has slots, each
///   reconnecting when closed, turned it round at ~2,000 connections a second, each displacing
///   the oldest, and a member's connection became the oldest before its handshake ended.
/// - On the API port, a provisional connection without such a certificate may instead wait,
///   still in the reserve and displaceable, for its first request: if that request carries
///   credentials the node accepts (a reader's or an auditor's token or sign-in, a certificate
///   that does not keep the reserve), the connection moves to `credentialPool`, slots of its
///   own, at most `credentialPerIdentity` per credential; otherwise it is closed after that
///   one response (counted, and displaceable, until it is gone). So strangers holding the shared slots cannot shut out people with tokens
///   either (a browser signing in makes one request per connection until it has a session),
///   and a hostile reader cannot take the members' reserve.
/// Addresses are counted as IPv4 addresses and IPv6 /64 prefixes (`SlotAddress`): one host
/// commonly holds a whole /64.
struct ConnectionSlots<ID: Hashable>: Sendable where ID: Sendable {
    let limit: Int
    let perAddress: Int
    let reserve: Int
    let reservePerAddress: Int
    /// Reserve slots one certificate identity keeps at once (a hostile member cannot take the
    /// whole reserve with its own certificate).
    let reservePerIdentity: Int
    /// Slots for connections moved out of the reserve by the credentials of their first
    /// request, and how many one credential keeps (0: none; the peer port has none).
    let credentialPool: Int
    let credentialPerIdentity: Int
    /// How long an address whose provisional connection was displaced may not displace another
    /// (0: no wait), on the monotonic milliseconds `enter` is given.
    let displacedCooldownMillis: UInt64
    /// How old a provisional connection must be before a newcomer may displace it (0: any
    /// age): longer than an honest handshake takes.
    let displaceableAfterMillis: UInt64
    /// Addresses that may not displace until the time given, and the same in the order they
    /// were cooled (expired from the front). At most `maxCooling`: when the table is full no
    /// connection is displaced (many addresses, an IPv6 /48, must not turn the protection off).
    private var cooling: [String: UInt64] = [:]
    private var coolingOrder: [(address: String, until: UInt64)] = []
    private var coolingFront = 0
    static var maxCooling: Int { 4_096 }

    enum Admission: Equatable, Sendable {
        /// One of the shared slots.
        case shared
        /// A reserve slot, kept only with a certificate; `displacing` is a provisional
        /// connection to close, whose slot this one took.
        case provisional(displacing: ID?)
        case refused
    }

    private struct Held {
        let address: String
        let serial: UInt64
        var shared: Bool
        /// When it came (`enter`'s `now`).
        let since: UInt64
        /// The certificate identity that keeps a reserve slot, once its handshake completed.
        var certified: String?
        /// The credential that moved it to the credential pool, once its first request came.
        var credentialed: String?
        /// Its first request brought no credentials: it is closed once answered, and until it
        /// is gone it keeps its place (pending, displaceable) so it counts against the port.
        var answeredOnce = false
    }

    private var held: [ID: Held] = [:]
    private var sharedTotal = 0
    private var sharedByAddress: [String: Int] = [:]
    private var reserveTotal = 0
    /// Reserve connections still in their handshake, per address, and in the order they came
    /// (ids of connections since certified or gone are skipped when met).
    private var pendingByAddress: [String: Int] = [:]
    private var pendingOrder: [ID] = []
    private var certifiedByIdentity: [String: Int] = [:]
    private var credentialTotal = 0
    private var credentialedByIdentity: [String: Int] = [:]
    private var serial: UInt64 = 0

    init(limit: Int, perAddress: Int, reserve: Int, reservePerAddress: Int, reservePerIdentity: Int,
         credentialPool: Int = 0, credentialPerIdentity: Int = 0, displacedCooldownMillis: UInt64 = 0, displaceableAfterMillis: UInt64 = 0) {
        self.displacedCooldownMillis = displacedCooldownMillis
        self.displaceableAfterMillis = displaceableAfterMillis
        self.limit = limit
        self.perAddress = perAddress
        self.reserve = reserve
        self.reservePerAddress = reservePerAddress
        self.reservePerIdentity = reservePerIdentity
        self.credentialPool = credentialPool
        self.credentialPerIdentity = credentialPerIdentity
    }

    var sharedInUse: Int { sharedTotal }
    var reserveInUse: Int { reserveTotal }
    var credentialInUse: Int { credentialTotal }

    /// `now`: monotonic milliseconds (for `displacedCooldownMillis`).
    mutating func enter(_ id: ID, address: String, now: UInt64 = 0) -> Admission {
        guard held[id] == nil else { return .refused }
        serial &+= 1
        if sharedTotal < limit, sharedByAddress[address, default: 0] < perAddress {
            sharedTotal += 1
            sharedByAddress[address, default: 0] += 1
            held[id] = Held(address: address, serial: serial, shared: true, since: now)
            return .shared
        }
        // Only connections still in their handshake count against an address here: a host's
        // certified connections (members sharing a host, a member's second connection) do not
        // keep it from opening one more.
        let mine = pendingByAddress[address, default: 0]
        guard mine < reservePerAddress else { return .refused }
        var displaced: ID?
        if reserveTotal >= reserve {
            expireCooling(now)
            guard cooling[address] == nil, let victim = displaceable(against: mine, now: now),
                  let victimAddress = held[victim]?.address, cool(victimAddress, now: now) else { return .refused }
            remove(victim)
            displaced = victim
        }
        reserveTotal += 1
        pendingByAddress[address, default: 0] += 1
        held[id] = Held(address: address, serial: serial, shared: false, since: now)
        pendingOrder.append(id)
        return .provisional(displacing: displaced)
    }

    /// The handshake completed, with a certificate that keeps the reserve (`certifiedAs`, its
    /// identity) or without one: whether the connection may stay. A provisional one may not
    /// without one, nor past `reservePerIdentity` for its identity (its slot is freed at once).
    /// With `awaitingCredentials` (the API port), a provisional connection without such a
    /// certificate stays, still pending, until `firstRequest` says what its credentials are.
    mutating func handshakeCompleted(_ id: ID, certifiedAs identity: String?, awaitingCredentials: Bool = false) -> Bool {
        guard var slot = held[id] else { return false }
        guard !slot.shared, slot.certified == nil else { return true }
        if identity == nil && awaitingCredentials && credentialPool > 0 { return true }
        guard let identity, certifiedByIdentity[identity, default: 0] < reservePerIdentity else {
            remove(id)
            return false
        }
        dropPending(slot.address)
        certifiedByIdentity[identity, default: 0] += 1
        slot.certified = identity
        held[id] = slot
        return true
    }

    /// Whether a provisional connection awaits its first request's credentials.
    func awaitsCredentials(_ id: ID) -> Bool {
        guard let slot = held[id] else { return false }
        return !slot.shared && slot.certified == nil && slot.credentialed == nil && !slot.answeredOnce
    }

    /// The first request of a connection came, with credentials the node accepts (`credential`,
    /// naming the token, session's token or certificate) or none: whether the connection may
    /// stay after answering it. A provisional one moves to the credential pool, room allowing
    /// (its reserve slot freed); any other connection is not affected.
    mutating func firstRequest(_ id: ID, credential: String?) -> Bool {
        guard var slot = held[id] else { return false }
        if slot.answeredOnce { return false }
        guard awaitsCredentials(id) else { return true }
        guard let credential, credentialTotal < credentialPool, credentialedByIdentity[credential, default: 0] < credentialPerIdentity else {
            // Not freed yet: the connection still exists until its answer is written and it is
            // closed (`leave`), and a slow reader must not hold it uncounted.
            slot.answeredOnce = true
            held[id] = slot
            return false
        }
        reserveTotal -= 1
        dropPending(slot.address)
        credentialTotal += 1
        credentialedByIdentity[credential, default: 0] += 1
        slot.credentialed = credential
        held[id] = slot
        return true
    }

    /// The connections holding a reserve slot by their certificate (`certified`) or a
    /// credential slot (`credentialed`) that `lost` says no longer holds it (a reload removed
    /// the member, narrowed its role, or removed the token): the caller closes them.
    func holders(where lost: (_ certified: String?, _ credentialed: String?) -> Bool) -> [ID] {
        held.compactMap { id, slot in
            guard slot.certified != nil || slot.credentialed != nil else { return nil }
            return lost(slot.certified, slot.credentialed) ? id : nil
        }
    }

    mutating func leave(_ id: ID) {
        remove(id)
    }

    private mutating func remove(_ id: ID) {
        guard let slot = held.removeValue(forKey: id) else { return }
        if slot.shared {
            sharedTotal -= 1
            let left = sharedByAddress[slot.address, default: 1] - 1
            sharedByAddress[slot.address] = left > 0 ? left : nil
        } else if let credential = slot.credentialed {
            credentialTotal -= 1
            let left = credentialedByIdentity[credential, default: 1] - 1
            credentialedByIdentity[credential] = left > 0 ? left : nil
        } else {
            reserveTotal -= 1
            if let identity = slot.certified {
                let left = certifiedByIdentity[identity, default: 1] - 1
                certifiedByIdentity[identity] = left > 0 ? left : nil
            } else {
                dropPending(slot.address)
            }
        }
        // The order list keeps ids of connections gone; trimmed when it is mostly those.
        if pendingOrder.count > 4 * max(reserve, 1) {
            let held = self.held
            pendingOrder.removeAll { held[$0].map { $0.shared || $0.certified != nil || $0.credentialed != nil } ?? true }
        }
    }

    /// Holds `address` back from displacing for `displacedCooldownMillis`; false when the table
    /// is full (then nothing is displaced).
    private mutating func cool(_ address: String, now: UInt64) -> Bool {
        guard displacedCooldownMillis > 0 else { return true }
        guard cooling[address] != nil || cooling.count < Self.maxCooling, coolingOrder.count - coolingFront < 2 * Self.maxCooling else { return false }
        let until = now + displacedCooldownMillis
        cooling[address] = until
        coolingOrder.append((address, until))
        return true
    }

    /// Forgets the waits that ended (every wait is as long, so they end in the order made).
    private mutating func expireCooling(_ now: UInt64) {
        while coolingFront < coolingOrder.count, coolingOrder[coolingFront].until <= now {
            let (address, until) = coolingOrder[coolingFront]
            if cooling[address] == until { cooling[address] = nil }
            coolingFront += 1
        }
        if coolingFront >= 1_024, coolingFront * 2 >= coolingOrder.count {
            coolingOrder.removeFirst(coolingFront)
            coolingFront = 0
        }
    }

    private mutating func dropPending(_ address: String) {
        let left = pendingByAddress[address, default: 1] - 1
        pendingByAddress[address] = left > 0 ? left : nil
    }

    /// The oldest reserve connection still in its handshake from the address with the most of
    /// them (the oldest first among equals), if that address holds more of them than the
    /// newcomer's does.
    private func displaceable(against newcomerHolds: Int, now: UInt64) -> ID? {
        guard let heaviest = pendingByAddress.values.max(), heaviest > newcomerHolds else { return nil }
        return pendingOrder.first { id in
            guard let slot = held[id], !slot.shared, slot.certified == nil, slot.credentialed == nil,
                  now >= slot.since &+ displaceableAfterMillis || now < slot.since else { return false }
            return pendingByAddress[slot.address] == heaviest
        }
    }
}

/// The key a connection's address is counted under: an IPv4 address as it is, an IPv6 address
/// by its /64 prefix (an IPv4-mapped one as its IPv4 address).
enum SlotAddress {
    static func key(ipv4 bytes: [UInt8]) -> String {
        bytes.map(String.init).joined(separator: ".")
    }

    static func key(ipv6 bytes: [UInt8]) -> String {
        guard bytes.count == 16 else { return "?" }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return key(ipv4: Array(bytes[12..<16]))
        }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }
}

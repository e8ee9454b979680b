import NIOCore
import NIOEmbedded
import QuartetCrypto
@testable import QuartetNode
import Testing

/// A port's slots: the shared ones by address, the reserve that only certificate holders keep,
/// and who gives way when the reserve is full (no sockets: the handlers carry out these answers;
/// AttackTests drives the real port).
@Suite struct ConnectionSlotsTests {
    /// The slots behind a reference, so `#expect` can call the mutating methods.
    final class Slots {
        var slots: ConnectionSlots<Int>
        init(limit: Int, perAddress: Int, reserve: Int, reservePerAddress: Int, reservePerIdentity: Int = 8,
             credentialPool: Int = 0, credentialPerIdentity: Int = 0, displacedCooldownMillis: UInt64 = 0, displaceableAfterMillis: UInt64 = 0) {
            slots = ConnectionSlots(limit: limit, perAddress: perAddress, reserve: reserve, reservePerAddress: reservePerAddress,
                                    reservePerIdentity: reservePerIdentity, credentialPool: credentialPool, credentialPerIdentity: credentialPerIdentity,
                                    displacedCooldownMillis: displacedCooldownMillis, displaceableAfterMillis: displaceableAfterMillis)
        }
        func enter(_ id: Int, address: String, now: UInt64 = 0) -> ConnectionSlots<Int>.Admission { slots.enter(id, address: address, now: now) }
        func handshakeCompleted(_ id: Int, as identity: String?) -> Bool { slots.handshakeCompleted(id, certifiedAs: identity) }
        func handshakeCompleted(awaiting id: Int) -> Bool { slots.handshakeCompleted(id, certifiedAs: nil, awaitingCredentials: true) }
        func firstRequest(_ id: Int, _ credential: String?) -> Bool { slots.firstRequest(id, credential: credential) }
        var credentialInUse: Int { slots.credentialInUse }
        func leave(_ id: Int) { slots.leave(id) }
        var sharedInUse: Int { slots.sharedInUse }
        var reserveInUse: Int { slots.reserveInUse }
        func holders(_ lost: (String?, String?) -> Bool) -> [Int] { slots.holders(where: lost).sorted() }
    }

    @Test func sharedSlotsAreCappedInAllAndPerAddress() {
        let slots = Slots(limit: 4, perAddress: 2, reserve: 0, reservePerAddress: 0)
        #expect(slots.enter(1, address: "a") == .shared)
        #expect(slots.enter(2, address: "a") == .shared)
        #expect(slots.enter(3, address: "a") == .refused, "a third from one address")
        #expect(slots.enter(4, address: "b") == .shared)
        #expect(slots.enter(5, address: "c") == .shared)
        #expect(slots.enter(6, address: "d") == .refused, "past the cap")
        #expect(slots.enter(1, address: "d") == .refused, "one id entered twice")
        slots.leave(1)
        #expect(slots.enter(6, address: "d") == .shared)
        slots.leave(42)
        #expect(slots.sharedInUse == 4)
        // A shared connection stays with or without a certificate.
        #expect(slots.handshakeCompleted(2, as: nil))
    }

    /// More addresses than the reserve has slots, each holding one connection in its handshake
    /// and reconnecting the moment it is closed: each newcomer displaced the oldest, the reserve
    /// turned at the speed of the loop, and a member's connection became the oldest before its
    /// handshake ended (7 of 34 got in, live). An address displaced now displaces no other for a
    /// while: the turning stops and the member's connection stays to finish its handshake.
    @Test(arguments: [UInt64(0), 10_000])
    func addressesReconnectingWhenClosedCannotTurnTheReserve(cooldown: UInt64) {
        let slots = Slots(limit: 1, perAddress: 1, reserve: 32, reservePerAddress: 1, displacedCooldownMillis: cooldown)
        #expect(slots.enter(0, address: "holder") == .shared)
        var next = 1, holding: [Int: String] = [:]
        func connect(_ address: String, at now: UInt64) -> ConnectionSlots<Int>.Admission {
            defer { next += 1 }
            let admission = slots.enter(next, address: address, now: now)
            if case .provisional(let displaced) = admission {
                holding[next] = address
                if let displaced { holding[displaced] = nil }
            }
            return admission
        }
        let ring = (1...34).map { "10.0.0.\($0)" }
        for address in ring { _ = connect(address, at: 0) }
        // The member comes, then the ring goes on reconnecting (each address whose connection
        // is gone at once) for 5 s of the member's handshake, a millisecond a turn.
        guard case .provisional = connect("member", at: 1) else { Issue.record("the member was refused"); return }
        let member = next - 1
        var turns = 0
        for now in UInt64(2)...5_000 {
            for address in ring where !holding.values.contains(address) {
                if case .provisional(_?) = connect(address, at: now) { turns += 1 }
            }
        }
        if cooldown == 0 {
            #expect(holding[member] == nil, "the ring displaced the member")
            #expect(turns > 1_000)
        } else {
            #expect(holding[member] != nil, "the member was displaced")
            #expect(turns <= 2, "\(turns) displacements")
            #expect(slots.handshakeCompleted(member, as: "quartet://node/wales"))
            // Past the wait an address displaced may displace again.
            let first = ring.first { !holding.values.contains($0) } ?? "none"
            #expect(connect(first, at: 9_000) == .refused)
            guard case .provisional(_?) = connect(first, at: 10_001) else { Issue.record("\(first) did not displace after its wait"); return }
        }
    }

    /// A connection in its handshake is not displaced before `displaceableAfterMillis`, however
    /// many fresh addresses come; and when the table of addresses held back is full, nothing is
    /// displaced (thousands of addresses, an IPv6 /48, turned the wait off), until waits end.
    @Test func youngConnectionsStayAndAFullTableDisplacesNothing() {
        let young = Slots(limit: 1, perAddress: 1, reserve: 2, reservePerAddress: 1, displaceableAfterMillis: 1_000)
        #expect(young.enter(0, address: "holder") == .shared)
        #expect(young.enter(1, address: "a") == .provisional(displacing: nil))
        #expect(young.enter(2, address: "member", now: 500) == .provisional(displacing: nil))
        for i in 3..<103 { #expect(young.enter(i, address: "fresh\(i)", now: 900) == .refused) }
        #expect(young.enter(103, address: "late", now: 1_000) == .provisional(displacing: 1), "the oldest, once old enough")
        #expect(young.enter(104, address: "later", now: 1_200) == .refused, "the member's is still young")
        #expect(young.handshakeCompleted(2, as: "quartet://node/wales"))

        let cap = ConnectionSlots<Int>.maxCooling
        let full = Slots(limit: 1, perAddress: 1, reserve: 1, reservePerAddress: 1, displacedCooldownMillis: 10_000)
        #expect(full.enter(0, address: "holder") == .shared)
        #expect(full.enter(1, address: "a0") == .provisional(displacing: nil))
        for i in 1...cap {
            #expect(full.enter(i + 1, address: "a\(i)", now: 1) == .provisional(displacing: i), "\(i)")
        }
        #expect(full.enter(cap + 2, address: "one-more", now: 2) == .refused, "displaced with the table full")
        #expect(full.enter(cap + 3, address: "one-more", now: 10_001) == .provisional(displacing: cap + 1), "the waits ended")
    }

    @Test func theReserveKeepsOnlyCertifiedConnections() {
        let slots = Slots(limit: 2, perAddress: 2, reserve: 2, reservePerAddress: 2)
        #expect(slots.enter(1, address: "attacker") == .shared)
        #expect(slots.enter(2, address: "attacker") == .shared)
        // The port is held: newcomers are provisional.
        #expect(slots.enter(3, address: "member") == .provisional(displacing: nil))
        #expect(slots.enter(4, address: "reader") == .provisional(displacing: nil))
        #expect(slots.handshakeCompleted(3, as: "quartet://node/wales"))
        #expect(!slots.handshakeCompleted(4, as: nil), "a reserve slot kept without a certificate")
        #expect(slots.reserveInUse == 1)
        // A displaced or unknown connection may not stay.
        #expect(!slots.handshakeCompleted(99, as: "quartet://node/wales"))
        // Everything left: nothing held.
        for id in [1, 2, 3, 4] { slots.leave(id) }
        #expect(slots.sharedInUse == 0 && slots.reserveInUse == 0)
    }

    @Test func stalledHandshakesGiveWayToAnAddressHoldingFewer() {
        let slots = Slots(limit: 0, perAddress: 0, reserve: 4, reservePerAddress: 3)
        // Two addresses stall handshakes in every reserve slot.
        #expect(slots.enter(1, address: "x") == .provisional(displacing: nil))
        #expect(slots.enter(2, address: "x") == .provisional(displacing: nil))
        #expect(slots.enter(3, address: "y") == .provisional(displacing: nil))
        #expect(slots.enter(4, address: "x") == .provisional(displacing: nil))
        // x holds the most: its oldest stalled connection gives way to the member.
        #expect(slots.enter(10, address: "member") == .provisional(displacing: 1))
        #expect(slots.handshakeCompleted(10, as: "quartet://node/wales"))
        // y (1 stalled) may take one of x's (2), but not one more once it holds the most.
        #expect(slots.enter(5, address: "y") == .provisional(displacing: 2))
        #expect(slots.enter(6, address: "y") == .refused, "y holds 2 stalled, as many as any address")
        // x (1) takes the oldest of y's two.
        #expect(slots.enter(7, address: "x") == .provisional(displacing: 3))
        // The member's certified connection does not count against it: it takes the oldest
        // of x's two stalled ones.
        #expect(slots.enter(11, address: "member") == .provisional(displacing: 4))
        #expect(slots.enter(12, address: "member") == .refused, "the member has 1 stalled, x and y 1 each")
        #expect(slots.reserveInUse == 4)
        #expect(slots.handshakeCompleted(10, as: "quartet://node/wales"), "asked again: still kept")
        // A displaced connection's handshake completing does not bring it back.
        #expect(!slots.handshakeCompleted(1, as: "quartet://node/wales"))
        #expect(!slots.handshakeCompleted(2, as: "quartet://node/wales"))
    }

    @Test func manyAddressesWithOneStalledHandshakeEachDoNotKeepAMemberOut() {
        let slots = Slots(limit: 0, perAddress: 0, reserve: 32, reservePerAddress: 16)
        #expect(slots.enter(1000, address: "member") == .provisional(displacing: nil))
        #expect(slots.handshakeCompleted(1000, as: "quartet://node/wales"))
        for i in 0..<31 { #expect(slots.enter(i, address: "a\(i)") == .provisional(displacing: nil)) }
        // The reserve is full; 33 addresses hold it, the member one certified connection. Its
        // second connection (checkpoint reads beside the witness requests) still gets in.
        #expect(slots.enter(1001, address: "member") == .provisional(displacing: 0))
        #expect(slots.handshakeCompleted(1001, as: "quartet://node/wales"))
        // An attacker's address with one stalled handshake may not displace another's.
        #expect(slots.enter(100, address: "a1") == .refused)
    }

    @Test func certifiedSlotsAreNeverDisplacedAndOneIdentityKeepsAFew() {
        let slots = Slots(limit: 0, perAddress: 0, reserve: 4, reservePerAddress: 4, reservePerIdentity: 2)
        #expect(slots.enter(1, address: "m") == .provisional(displacing: nil))
        #expect(slots.enter(2, address: "m") == .provisional(displacing: nil))
        #expect(slots.enter(3, address: "m") == .provisional(displacing: nil))
        #expect(slots.handshakeCompleted(1, as: "quartet://node/hostile"))
        #expect(slots.handshakeCompleted(2, as: "quartet://node/hostile"))
        #expect(!slots.handshakeCompleted(3, as: "quartet://node/hostile"), "a third reserve slot for one certificate")
        #expect(slots.enter(4, address: "x") == .provisional(displacing: nil))
        #expect(slots.enter(5, address: "x") == .provisional(displacing: nil))
        #expect(slots.enter(6, address: "y") == .provisional(displacing: 4), "x's stalled ones give way, the certified do not")
        #expect(slots.handshakeCompleted(5, as: "quartet://node/wales"))
        #expect(slots.handshakeCompleted(6, as: "quartet://operator/wales"))
        #expect(slots.enter(7, address: "z") == .refused, "every reserve slot certified")
        slots.leave(1)
        #expect(slots.enter(7, address: "z") == .provisional(displacing: nil))
        // A slot its identity freed can be taken by it again (z's stalled one gives way).
        #expect(slots.enter(8, address: "m") == .provisional(displacing: 7))
        #expect(slots.handshakeCompleted(8, as: "quartet://node/hostile"))
    }

    @Test func theReservePerAddressBoundsStalledHandshakes() {
        let slots = Slots(limit: 0, perAddress: 0, reserve: 10, reservePerAddress: 2)
        #expect(slots.enter(1, address: "x") != .refused)
        #expect(slots.enter(2, address: "x") != .refused)
        #expect(slots.enter(3, address: "x") == .refused)
        #expect(slots.handshakeCompleted(1, as: "quartet://operator/wales"))
        #expect(slots.enter(3, address: "x") != .refused, "a certified connection does not count against its address")
    }

    @Test func aLongRunOfConnectionsLeavesNothingHeld() {
        let slots = Slots(limit: 3, perAddress: 2, reserve: 4, reservePerAddress: 2, reservePerIdentity: 2)
        var open: [Int] = []
        var generator = SystemRandomNumberGenerator()
        for id in 0..<5_000 {
            if slots.enter(id, address: "a\(id % 7)") != .refused { open.append(id) }
            if id % 3 == 0, let some = open.randomElement(using: &generator) {
                _ = slots.handshakeCompleted(some, as: Bool.random(using: &generator) ? "quartet://node/n\(some % 3)" : nil)
            }
            if open.count > 6 { slots.leave(open.removeFirst()) }
            #expect(slots.sharedInUse <= 3 && slots.reserveInUse <= 4)
        }
        for id in open { slots.leave(id) }
        #expect(slots.sharedInUse == 0 && slots.reserveInUse == 0)
    }

    @Test func addressesAreCountedByIPv4AndByIPv6Prefix() {
        #expect(SlotAddress.key(ipv4: [10, 0, 0, 7]) == "10.0.0.7")
        let a: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8]
        var b = a
        b[15] = 9
        b[8] = 0xff
        #expect(SlotAddress.key(ipv6: a) == "2001:db8:1:2::/64")
        #expect(SlotAddress.key(ipv6: a) == SlotAddress.key(ipv6: b), "one /64 counted as many addresses")
        var c = a
        c[7] = 3
        #expect(SlotAddress.key(ipv6: a) != SlotAddress.key(ipv6: c))
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]
        #expect(SlotAddress.key(ipv6: mapped) == "192.0.2.1")
        #expect(SlotAddress.key(ipv6: [1, 2]) == "?")
    }

    /// Finding 284: after a reload, the connections holding slots for a member removed or a
    /// token dropped are found (`holders`) and closed (`Counter.closeUntrusted`), not left to age
    /// out; shared slots and those still trusted stay.
    @Test func slotsAReloadTookAwayAreClosed() throws {
        let slots = Slots(limit: 1, perAddress: 1, reserve: 4, reservePerAddress: 4, credentialPool: 2, credentialPerIdentity: 2)
        #expect(slots.enter(1, address: "x") == .shared)
        for id in 2...4 { #expect(slots.enter(id, address: "m") == .provisional(displacing: nil)) }
        #expect(slots.handshakeCompleted(2, as: "urn:removed") && slots.handshakeCompleted(3, as: "urn:kept") && slots.handshakeCompleted(awaiting: 4))
        #expect(slots.firstRequest(4, "reader-alice token alice"))
        #expect(slots.holders { certified, credential in certified == "urn:removed" || credential == "reader-alice token alice" } == [2, 4])
        #expect(slots.holders { _, _ in false }.isEmpty)
        #expect(slots.holders { _, _ in true } == [2, 3, 4], "a shared slot is no one's to lose")

        let counter = ConnectionCap.Counter(limit: 1, perAddress: 1, reserve: 4, reservePerAddress: 4, reservePerIdentity: 8,
                                            credentialPool: 2, credentialPerIdentity: 2, keepsReserve: { _ in true })
        let shared = EmbeddedChannel(), removed = EmbeddedChannel(), kept = EmbeddedChannel(), token = EmbeddedChannel()
        for channel in [shared, removed, kept, token] {
            _ = try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            #expect(counter.enter(channel))
        }
        #expect(counter.handshakeCompleted(removed, peer: .node("removed")) && counter.handshakeCompleted(kept, peer: .node("kept")))
        #expect(counter.handshakeCompleted(token, peer: nil) && counter.request(on: ObjectIdentifier(token), credential: "reader-alice token alice"))
        let closed = counter.closeUntrusted(certifiedKeeps: { $0 != FederationIdentity.node("removed").uri }, credentialValid: { !$0.contains(" token ") })
        #expect(closed == 2)
        #expect(!removed.isActive && !token.isActive && kept.isActive && shared.isActive)
    }

    /// A token's connections count by the token itself: one replaced under the same name and
    /// role is another credential (its slots go when the old token is dropped); a certificate's
    /// by its author.
    @Test func slotsCountATokenByItselfNotByItsName() {
        let old = Caller(identity: .reader("alice"), author: "reader-alice token alice", viaCookie: false, token: TokenGrant.digest("old"))
        let new = Caller(identity: .reader("alice"), author: "reader-alice token alice", viaCookie: false, token: TokenGrant.digest("new"))
        #expect(old.slotCredential != new.slotCredential && old.slotCredential == Caller.tokenCredential(TokenGrant.digest("old")))
        let certified = Caller(identity: .reader("alice"), author: "reader-alice cert 1A", viaCookie: false)
        #expect(certified.slotCredential == "reader-alice cert 1A")
    }

    /// On the API port a provisional connection without a member's certificate waits for its
    /// first request: credentials move it to slots of their own (a few per credential), none
    /// close it after that answer; meanwhile it gives way like a stalled handshake.
    @Test func aFirstRequestWithCredentialsKeepsACredentialSlot() {
        let slots = Slots(limit: 1, perAddress: 1, reserve: 2, reservePerAddress: 2, credentialPool: 3, credentialPerIdentity: 2)
        #expect(slots.enter(1, address: "attacker") == .shared)
        #expect(slots.enter(2, address: "reader") == .provisional(displacing: nil))
        #expect(slots.enter(3, address: "attacker") == .provisional(displacing: nil))
        #expect(slots.handshakeCompleted(awaiting: 2) && slots.handshakeCompleted(awaiting: 3))
        // The reader's token: a credential slot, the reserve slot freed.
        #expect(slots.firstRequest(2, "reader-alice token alice"))
        #expect(slots.reserveInUse == 1 && slots.credentialInUse == 1)
        // No credentials: answered once, then closed; counted (and displaceable) until it is gone.
        #expect(!slots.firstRequest(3, nil))
        #expect(slots.reserveInUse == 1)
        #expect(!slots.firstRequest(3, "reader-alice token alice"), "no second chance on the same connection")
        slots.leave(3)
        #expect(slots.reserveInUse == 0)
        // Asking again changes nothing for a connection already decided.
        #expect(slots.firstRequest(2, nil) && slots.firstRequest(1, nil), "a credentialed or shared connection stays")
        // At most two per credential, three in all.
        #expect(slots.enter(4, address: "reader") == .provisional(displacing: nil))
        #expect(slots.enter(5, address: "reader") == .provisional(displacing: nil))
        #expect(slots.enter(6, address: "reader") == .refused, "two awaiting from one address already")
        #expect(slots.handshakeCompleted(awaiting: 4) && slots.handshakeCompleted(awaiting: 5))
        #expect(slots.firstRequest(4, "reader-alice token alice"))
        #expect(!slots.firstRequest(5, "reader-alice token alice"), "a third connection of one credential")
        #expect(slots.credentialInUse == 2)
        slots.leave(5)
        // A pending connection awaiting its request still gives way to a member from an
        // address holding fewer.
        #expect(slots.enter(7, address: "x") == .provisional(displacing: nil))
        #expect(slots.enter(8, address: "x") == .provisional(displacing: nil))
        #expect(slots.handshakeCompleted(awaiting: 7))
        #expect(slots.enter(9, address: "member") == .provisional(displacing: 7))
        // Without a credential pool (the peer port) nothing waits: closed after the handshake.
        let peer = Slots(limit: 0, perAddress: 0, reserve: 1, reservePerAddress: 1)
        #expect(peer.enter(1, address: "x") == .provisional(displacing: nil))
        #expect(!peer.handshakeCompleted(awaiting: 1))
        // Leaving frees a credential slot.
        slots.leave(2)
        slots.leave(4)
        #expect(slots.credentialInUse == 0)
    }
}

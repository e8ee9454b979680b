import Foundation
import Logging
import NIOCore
import NIOPosix
import QuartetLedger
import QuartetPolicy
import QuartetReplication
import QuartetStore
import QuartetTLS

// (Over ~350 lines: every event of a peer connection the engine's queue handles, in the order a
// connection lives them.)

/// The engine's peer connections: events from them, dialling, sending (through egress, with
/// per-connection backpressure) and closing peers that stall. Everything here runs on the
/// engine's queue, as the rest of the engine does.
extension ReplicationEngine {
    // MARK: Events from connections

    /// A TLS connection (either direction) verified `peer`. Of two connections with the same
    /// peer both sides keep the same one (`ConnectionChoice`) and close the other.
    func connected(_ peer: String, channel: any Channel, dialledHere: Bool) {
        queue.async {
            // A dial of this node's ended with a connection (kept or not).
            if dialledHere { self.dialing.remove(peer) }
            guard !self.stopped else { channel.close(promise: nil); return }
            let canonical = dialledHere == self.replicator.settings.dials(peer)
            var replaced = false
            if let old = self.channels[peer], old !== channel {
                let age = self.connectedAt[peer].map { ContinuousClock.now - $0 } ?? .zero
                guard ConnectionChoice.keepsNew(newCanonical: canonical, heldCanonical: self.canonical.contains(peer),
                                                heldAgeMillis: UInt64(max(0, age.nanoseconds / 1_000_000))) else {
                    self.logger.debug("closing a second connection; keeping the one held", metadata: ["peer": "\(peer)"])
                    channel.close(promise: nil)
                    return
                }
                old.close(promise: nil)
                replaced = true
            }
            self.channels[peer] = channel
            self.flows[peer] = OutboundFlow()
            self.lastWriteProgress[peer] = .now
            if canonical { self.canonical.insert(peer) } else { self.canonical.remove(peer) }
            self.connectedSince[peer] = Date()
            self.connectedAt[peer] = ContinuousClock.now
            self.sayConnection("peer connected", peer)
            self.run(self.replicator.connected(peer))
            // A request for own-log payloads went out on the connection just closed, whose
            // answer will never come (its `disconnected` is ignored, being replaced): ask again.
            // Left waiting, `quartet recover` timed out and wiped what it had (an attack that
            // connected once with a member's certificate during the backfill).
            if replaced { self.backfillDisconnected(peer) }
        }
    }

    func disconnected(_ peer: String, channel: any Channel) {
        queue.async {
            guard self.channels[peer] === channel else { return }
            self.run(self.forget(peer))
        }
    }

    /// Says a connection's start or end, within the member's budget (`connectionLines`).
    func sayConnection(_ line: Logger.Message, _ peer: String) {
        let budget = connectionLines[peer] ?? LogBudget(lines: Self.connectionLinesPerMinute, per: .seconds(60))
        connectionLines[peer] = budget
        let taken = budget.take()
        guard taken.write else { return }
        var metadata: Logger.Metadata = ["peer": "\(peer)"]
        if taken.dropped > 0 { metadata["connection_lines_not_logged"] = "\(taken.dropped)" }
        logger.info(line, metadata: metadata)
    }

    /// The peer's connection is gone for the engine (closed, or being closed: what was read
    /// from it and not yet handled is dropped). On the engine's queue.
    func forget(_ peer: String) -> [Directive] {
        channels[peer] = nil
        flows[peer] = nil
        lastWriteProgress[peer] = nil
        canonical.remove(peer)
        connectedSince[peer] = nil
        connectedAt[peer] = nil
        // Its statement is judged again when it says it again; a newer file it stated still
        // counts (`stated`: a reconnection's gap does not lift it).
        peerFederations[peer] = nil
        sayConnection("peer disconnected", peer)
        guard !stopped else { return [] }
        let directives = replicator.disconnected(peer)
        backfillDisconnected(peer)
        return directives
    }

    /// `message` (`bytes` long) read from `peer`'s `channel`; `backlog` counts it until handled.
    func received(_ message: Message, from peer: String, channel: any Channel, backlog: InboundBacklog? = nil, bytes: Int = 0) {
        // Here, on the connection's event loop, a large batch is decoded while the engine's
        // queue may still be storing the one before it (DecodedBatches).
        let decoded: (Batch, Result<[Entry], StoreError>)? = if case .entries(let batch) = message, DecodedBatches.worthDecodingAhead(batch) {
            (batch, Result { () throws(StoreError) in try Self.entries(of: batch) })
        } else {
            nil
        }
        queue.async {
            defer { if backlog?.done(bytes) == true { channel.read() } }
            guard !self.stopped, self.channels[peer] === channel else { return }
            if let decoded { self.decodedAhead.add(decoded.0, decoded.1) }
            if case .unavailable(let log, let from) = message, self.logs[log] != nil {
                // (Counted only for logs of this federation: a peer's names never become series.)
                self.logger.debug("a request was answered unavailable", metadata: ["peer": "\(peer)", "log": "\(log)", "from": "\(from)"])
                self.metrics.unavailable(sent: false, log: log)
            }
            // The answer to a request for payloads of own-log stubs (OwnLogBackfill.swift).
            if self.backfillReceived(message, from: peer) { return }
            // Before the greeting is answered: what this node's witness cosigned of the logs the
            // peer writes, read now (a connection is greeted rarely), goes to it first. Only for
            // a hello the replicator will take: each read is on the witness's database, and a
            // peer sending hellos over and over made one per frame.
            if case .hello = message, self.replicator.awaitsHello(peer), let member = self.federation.member(peer),
               let note = self.witnessedLatest(member.verifier.name) ?? nil {
                self.replicator.witnessCosigned(log: member.log, note: note)
            }
            self.run(self.replicator.received(message, from: peer))
        }
    }

    /// A malformed or oversized frame: only that connection is closed.
    func protocolError(_ error: WireError, from peer: String, channel: any Channel) {
        queue.async {
            self.record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: peer, message: error.message))
            let frame = Message.error(code: .malformed, message: error.message).frame()
            channel.writeAndFlush(ByteBuffer(bytes: frame)).whenComplete { _ in channel.close(promise: nil) }
            // Not kept open waiting on a peer that does not read the error.
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }

    // MARK: Sending


    /// Closes connections with bytes unwritten and no write completed for `writeStallTimeout`,
    /// or whose oldest byte unwritten has waited `untakenTimeout` (a peer reading just enough
    /// to finish a small frame now and then, never catching up, held its connection for ever).
    func closeStalled() {
        let now = ContinuousClock.now
        let nowMillis = monotonicMillis
        let stallMillis = UInt64(Self.untakenTimeout.components.seconds) * 1000
        for (peer, flow) in flows where flow.unwritten > 0 {
            let noProgress = lastWriteProgress[peer].map { now - $0 > Self.writeStallTimeout } ?? false
            let oldest = flow.oldestUnwrittenSinceMillis.map { nowMillis > $0 + stallMillis } ?? false
            guard noProgress || oldest else { continue }
            record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: peer,
                                    message: noProgress ? "\(peer) took none of \(flow.unwritten) bytes sent to it for \(Self.writeStallTimeout); closing the connection"
                                        : "\(peer) left bytes sent to it untaken for more than \(Self.untakenTimeout) (\(flow.unwritten) waiting); closing the connection"))
            lastWriteProgress[peer] = now
            channels[peer]?.close(promise: nil)
        }
    }

    /// Resets the connections to `peers` (an ended agreement's recipients): what was queued for
    /// them — frames egress let through while the agreement was in force, waiting in NIO or in
    /// the kernel for a reader that takes them slowly — is dropped, not delivered minutes after
    /// the end (an honest recipient would drop it and blame an honest sender; a hostile one would
    /// have it late). A reset (SO_LINGER 0), not a close, which would still send the kernel's
    /// buffer. They reconnect at once and ask again; egress judges anew (finding 286).
    func reset(peers: Set<String>, agreement: String) {
        queue.async {
            let open = peers.sorted().filter { self.channels[$0] != nil && (self.flows[$0]?.unwritten ?? 0) > 0 }
            guard !open.isEmpty else { return }
            self.logger.notice("agreement ended: the connections to its recipients with frames still queued are reset, dropping them",
                               metadata: ["agreement": "\(agreement)", "peers": "\(open.joined(separator: ","))"])
            for peer in open { self.resetSoon(peer) }
        }
    }

    private func resetSoon(_ peer: String) {
        switch endResets.decide(peer, queued: flows[peer]?.unwritten ?? 0, at: .now) {
        case .skip:
            return
        case .after(let wait):
            queue.asyncAfter(deadline: .now() + .milliseconds(Int(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000) + 1)) {
                self.endResets.waited(peer)
                guard !self.stopped else { return }
                self.resetSoon(peer)
            }
        case .now:
            guard let channel = channels[peer] else { return }
            guard let socket = channel as? any SocketOptionProvider else { channel.close(promise: nil); return }
            socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Reads a batch of `logName` from `from` and sends it to `peer` (egress decides what of it).
    func serve(_ logName: String, from: UInt64, to peer: String) {
        guard let log = logs[logName] else { return }
        do {
            // The own log only up to the engine's head: a commit is served once its hooks ran
            // (a batch with agreement entries is folded first, so egress judges it by them).
            let through = logName == replicator.settings.ownLog ? replicator.heads[logName]?.size ?? 0 : .max
            guard let (entries, note) = try store.batch(log, from: from, maxEntries: ProtocolLimits.maxBatchEntries,
                                                        maxBytes: ProtocolLimits.batchBytesBudget, through: through,
                                                        maxRotations: Replicator.maxNewRotationsPerBatch) else {
                send(.unavailable(log: logName, from: from), to: peer)
                return
            }
            // What was read for the peer counts against its read budget, whatever egress then
            // strips or withholds (pushes of new commits do not count).
            let now = monotonicMillis
            readBudgets[peer, default: ReadBudget(settings: readBudgetSettings, nowMillis: now)]
                .spent(entries.reduce(note.utf8.count) { $0 + $1.headerBytes.count + ($1.payload?.bytes.count ?? 0) }, nowMillis: now)
            send(.entries(Batch(log: logName, from: from, note: note, entries: entries.map { WireEntry(headerBytes: $0.headerBytes, payload: $0.payload) })), to: peer, answering: true)
        } catch {
            logger.error("cannot serve a batch", metadata: ["log": "\(logName)", "from": "\(from)", "error": "\(error)"])
            send(.unavailable(log: logName, from: from), to: peer)
        }
    }

    /// A write to `peer` of `bytes` finished (or failed): serve what waited on it.
    func written(_ bytes: Int, to peer: String, channel: any Channel) {
        guard channels[peer] === channel, flows[peer] != nil else { return }
        flows[peer]!.written(bytes)
        lastWriteProgress[peer] = .now
        serveWaiting(peer)
    }

    /// Serves `peer`'s waiting requests while its connection and its read budget allow; if its
    /// budget stops them, they are served when it is back.
    func serveWaiting(_ peer: String) {
        while let next = flows[peer]?.next(allowed: budgetAllows(peer)) { serve(next.log, from: next.from, to: peer) }
        if flows[peer]?.waiting.isEmpty == false, !budgetAllows(peer) { wakeWhenBudgetIsBack(peer) }
    }

    /// Milliseconds on the engine's monotonic clock.
    var monotonicMillis: UInt64 {
        let elapsed = (ContinuousClock.now - clockStart).components
        return UInt64(max(0, elapsed.seconds)) * 1000 + UInt64(max(0, elapsed.attoseconds / 1_000_000_000_000_000))
    }

    /// Whether `peer`'s read budget lets it be served now.
    func budgetAllows(_ peer: String) -> Bool {
        let now = monotonicMillis
        return readBudgets[peer, default: ReadBudget(settings: readBudgetSettings, nowMillis: now)].allows(nowMillis: now)
    }

    /// Serves `peer`'s waiting requests once its read budget is back (one wake-up at a time).
    func wakeWhenBudgetIsBack(_ peer: String) {
        guard !budgetWakes.contains(peer), let budget = readBudgets[peer] else { return }
        budgetWakes.insert(peer)
        metrics.readBudgetWaits.increment()
        logger.debug("a peer's requests wait for its read budget", metadata: ["peer": "\(peer)", "credit": "\(budget.credit)"])
        let millis = Int(min(budget.millisUntilAllowed(), 60_000))
        queue.asyncAfter(deadline: .now() + .milliseconds(millis)) {
            self.budgetWakes.remove(peer)
            guard !self.stopped else { return }
            self.runPendingChecks(peer)
            guard self.channels[peer] != nil else { return }
            self.serveWaiting(peer)
        }
    }

    /// What one comparison of a peer's checkpoint with the stored tree counts against its read
    /// budget: a consistency proof's reads (a few pages each), rounded up. At the default
    /// budget a member may have ~1,000 of its checkpoints compared a second.
    static let checkReadCost = 64 << 10

    /// Compares the checkpoints `peer` showed that waited for its read budget, while it allows.
    /// Those of a member since disconnected too: a checkpoint it relayed may be the evidence.
    func runPendingChecks(_ peer: String) {
        while budgetAllows(peer), let (log, waiting) = pendingChecks[peer]?.first {
            pendingChecks[peer]![log] = nil
            if pendingChecks[peer]!.isEmpty { pendingChecks[peer] = nil }
            run([waiting])
        }
        if pendingChecks[peer] != nil { wakeWhenBudgetIsBack(peer) }
    }

    /// Sends `message` to `peer`; entries pass through egress first. A batch egress withholds
    /// is not sent; if it answers the peer's request (`answering`), the peer hears
    /// `unavailable` so it asks the holder at once. The payloads that go in full are recorded
    /// as disclosed once the frame is taken for the connection (not one over the frame limit,
    /// or dropped with a connection past its hard limit: the owner's audit showed disclosures
    /// that never happened, and a later real one was taken as recorded by them).
    func send(_ message: Message, to peer: String, answering: Bool = false) {
        guard let channel = channels[peer] else { return }
        var message = message
        var disclosed: (log: String, records: [OwnLogRecorder.Disclosed])?
        if case .entries(let batch) = message {
            if let allowed = egress(batch, to: peer) {
                message = .entries(allowed.batch)
                if !allowed.records.isEmpty { disclosed = (batch.log, allowed.records) }
            } else if answering {
                message = .unavailable(log: batch.log, from: batch.from)
            } else {
                return
            }
        }
        if case .unavailable(let log, let from) = message {
            // A version-1 peer does not know the message: it waits for the next round instead.
            guard replicator.speaksUnavailable(peer) else { return }
            if logs[log] != nil {
                // (Counted only for logs of this federation: a peer's names never become series.)
                logger.debug("answered a request with unavailable", metadata: ["peer": "\(peer)", "log": "\(log)", "from": "\(from)"])
                metrics.unavailable(sent: true, log: log)
            }
        }
        // A request answered with nothing would be left to the round's end, and asked of this
        // node again: `unavailable` sends the peer elsewhere at once.
        func answerUnavailable() {
            if answering, case .entries(let batch) = message { send(.unavailable(log: batch.log, from: batch.from), to: peer, answering: true) }
        }
        let frame = message.frame()
        guard frame.count - 4 <= ProtocolLimits.maxFrame else {
            logger.error("a \(message.name) message of \(frame.count) bytes exceeds the frame limit; not sent", metadata: ["peer": "\(peer)"])
            return answerUnavailable()
        }
        guard flows[peer, default: OutboundFlow()].admits(frame.count) else {
            record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: peer,
                                    message: "\(peer) does not read: more than \(OutboundFlow.Settings().hardLimitBytes >> 20) MiB unwritten; closing the connection"))
            flows[peer] = OutboundFlow()
            channel.close(promise: nil)
            return
        }
        // Not recorded (all of it, or none), not sent: the peer asks again (or is pushed the
        // next commit).
        if let disclosed, !onDisclosed(peer, disclosed.log, disclosed.records) { return answerUnavailable() }
        // (`admits` above said it is within the limit: the answer is known.)
        _ = flows[peer, default: OutboundFlow()].queued(frame.count, nowMillis: monotonicMillis)
        write(frame, to: peer, on: channel)
    }

    /// Writes `frame` in slices of `writeSlice`, each crediting the connection's progress as
    /// the socket takes it: a peer taking a large batch slowly (a 300 ms, lossy link: ~26 KB/s
    /// takes a 1 MiB frame in 40 s) is making progress, and is not closed as one that takes
    /// nothing, over and over. (Whole, its frame's one completion came past `writeStallTimeout`.)
    private func write(_ frame: [UInt8], to peer: String, on channel: any Channel) {
        let buffer = ByteBuffer(bytes: frame)
        channel.eventLoop.execute {
            var offset = 0
            while offset < buffer.readableBytes {
                let length = min(Self.writeSlice, buffer.readableBytes - offset)
                let promise = channel.eventLoop.makePromise(of: Void.self)
                promise.futureResult.whenComplete { _ in
                    self.queue.async { self.written(length, to: peer, channel: channel) }
                }
                channel.write(buffer.getSlice(at: buffer.readerIndex + offset, length: length)!, promise: promise)
                offset += length
            }
            channel.flush()
        }
    }

    /// The bytes of a frame whose write is one step of progress (four TLS records).
    static let writeSlice = 64 << 10

    /// Egress: each restricted payload goes to `peer` only if the agreements of the log's holder
    /// in force now give it full access (or aggregate access, for a published aggregate whose
    /// suppression meets the agreement's terms);
    /// otherwise the entry travels as a stub. The same rule
    /// holds when this node relays another node's log.
    /// Returns the batch to send and the disclosures it makes (recorded by `send` once the frame
    /// is taken for the connection), or nil to withhold it.
    func egress(_ batch: Batch, to peer: String) -> (batch: Batch, records: [OwnLogRecorder.Disclosed])? {
        // A log's own node may hold all of it (it takes back a tail it lost, OwnLogSync).
        guard replicator.settings.writer(of: batch.log) != peer else { return (batch, []) }
        guard batch.entries.contains(where: { !EntryHeader.isPublic(encoded: $0.headerBytes) }) else { return (batch, []) }
        // A member a reload removed (its connection closing) is no recipient.
        guard federation.member(peer) != nil else { return nil }
        // Not while this node's clock disagrees with its witnesses (finding 289): agreements are
        // judged by it (a clock set back brings a revoked agreement back in force), and a stub
        // it would send instead of a payload is kept for good by its recipient. The peer gets
        // the batch once the clock is right (the holder pushes; a request is answered
        // `unavailable`).
        if clock.holdReason != nil { return nil }
        let items = batch.entries.indices.compactMap { i -> (position: Int, header: EntryHeader?, hasPayload: Bool)? in
            let wire = batch.entries[i]
            guard !EntryHeader.isPublic(encoded: wire.headerBytes) else { return nil }
            return (i, try? EntryHeader(decoding: wire.headerBytes), wire.payload != nil)
        }
        // The agreement each published aggregate names (whose suppression made it).
        var named: [Int: String] = [:]
        for item in items where item.header?.type == Policy.aggregateType {
            if let payload = batch.entries[item.position].payload, let id = DataFlow.namedAgreement(payload.bytes) { named[item.position] = id }
        }
        // Judged as the peer will judge it: with the batch's own agreements and revocations
        // (a relay forwarding a batch that ends with a revocation its view has not folded yet
        // sent the rows in full, recorded a disclosure under a revoked agreement, and was blamed).
        // Only those the policy has not folded: each costs its owner's signature check, and a
        // served span of a member's old entries would repeat them at every request.
        let now = wallClockMillis()
        let folded = foldedSize(batch.log)
        let policyEntries = batch.end <= folded ? [] : batch.entries.compactMap { wire -> DataFlow.Item? in
            guard EntryHeader.isPublic(encoded: wire.headerBytes), let payload = wire.payload,
                  EntryHeader.hasType(Self.establishedType, encoded: wire.headerBytes) || EntryHeader.hasType(Self.revokedType, encoded: wire.headerBytes),
                  let header = try? EntryHeader(decoding: wire.headerBytes), header.index >= folded else { return nil }
            return DataFlow.Item(header: header, payload: payload.bytes)
        }
        let judgedBy = policyEntries.isEmpty ? policy() : DataFlow.including(policyEntries, of: batch.log, in: policy(), at: now)
        // A relay: how far the judging policy knows the holder's log (the batch's own policy
        // entries count when they follow on from what is folded), against the newest verified
        // checkpoint of it seen; behind it, it discloses nothing in full. The writer: once its
        // own log is confirmed with its peers (restored from an older backup, it lacks what it
        // recorded since; its own commits it pushes as it makes them, folded or not).
        let isWriter = replicator.settings.writer(of: batch.log) == me
        let known = batch.from <= folded ? max(folded, batch.end) : folded
        let current = isWriter ? replicator.ownLogStatus.synced : knowsNewest(of: batch.log, through: known)
        // And the members it judges recipients by: confirmed by as many members as must answer
        // at a start, and not stated out of date (`membershipConfirmed`, `membershipStale`).
        switch DataFlow.egress(items, holder: batch.log, recipient: peer, policy: judgedBy, at: now, aggregateAgreements: named,
                               isWriter: isWriter, current: current,
                               membershipCurrent: membershipConfirmed && !membershipStale) {
        case .withhold:
            // A relay holding only the stub of an entry the peer may have in full: the peer
            // would refuse the batch. It gets it from a node that holds the payload (the holder
            // pushes every commit at once; a request is answered `unavailable`).
            return nil
        case .send(let strip, let disclosed):
            var out = batch
            for i in strip { out.entries[i].payload = nil }
            // Exactly the entries that went in full under each agreement, as index ranges.
            let records = disclosed.map { item -> OwnLogRecorder.Disclosed in
                var ranges: [ClosedRange<UInt64>] = []
                for index in item.positions.map({ batch.from + UInt64($0) }).sorted() {
                    if let last = ranges.last, last.upperBound + 1 == index { ranges[ranges.count - 1] = last.lowerBound...index } else { ranges.append(index...index) }
                }
                return OwnLogRecorder.Disclosed(ranges: ranges, agreement: item.agreement, access: item.access)
            }
            return (out, records)
        }
    }

    private static let establishedType = Array(PolicyEntryType.established.rawValue.utf8)
    private static let revokedType = Array(PolicyEntryType.revoked.rawValue.utf8)

    // MARK: Dialling

    func dial(_ member: Federation.Member) {
        let engine = self
        let peer = member.id
        var connectionLogger = logger
        connectionLogger[metadataKey: "peer"] = "\(peer)"
        let tlsLogger = connectionLogger
        ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: ReplicationEngine.peerWaterMark)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    ReplicationEngine.limitUnsent(channel)
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: ReplicationEngine.idleTimeout),
                        try TLSHandler(context: self.clientContext, policy: .node(peer), serverName: peer, logger: tlsLogger),
                        PeerChannelHandler(engine: engine, logger: tlsLogger, dialled: peer),
                    ])
                }
            }
            .connect(host: member.peer.host, port: member.peer.port)
            .whenComplete { result in
                switch result {
                case .success:
                    break  // PeerChannelHandler reports the connection, or its failure.
                case .failure(let error):
                    engine.logger.debug("cannot reach peer", metadata: ["peer": "\(peer)", "error": "\(error)"])
                    engine.queue.async {
                        engine.dialing.remove(peer)
                        if !engine.stopped && engine.channels[peer] == nil { engine.run(engine.replicator.disconnected(peer)) }
                    }
                }
            }
    }

    /// A dialled connection closed before TLS verified the peer: back off and dial again (if
    /// this node is the one that redials).
    func dialFailed(_ peer: String) {
        queue.async {
            self.dialing.remove(peer)
            guard !self.stopped, self.channels[peer] == nil else { return }
            self.run(self.replicator.disconnected(peer))
        }
    }
}

import Dispatch
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import QuartetReplication
import QuartetStore
import QuartetTLS

/// The NIO shell around the pure `Replicator`: it owns the peer connections, feeds the state
/// machine their messages, local commits and timer ticks, and carries out its directives against
/// the store. Everything runs on one serial queue, so per-connection message order is kept and
/// the state machine needs no locks.
final class ReplicationEngine: @unchecked Sendable {
    /// A peer connection on which nothing arrives for this long is closed (heads arrive every
    /// anti-entropy period, 2 s).
    static let idleTimeout = TimeAmount.seconds(10)

    private let queue = DispatchQueue(label: "quartet.replication")
    private var replicator: Replicator
    private let store: LedgerStore
    private let federation: Federation
    private let me: String
    private let clientContext: TLSContext
    private let group: any EventLoopGroup
    private let logger: Logger
    private let evidenceDirectory: URL
    private var logs: [String: LogInfo]
    private var channels: [String: any Channel] = [:]
    /// Peers whose connection was dialled by the member with the smaller id.
    private var canonical: Set<String> = []
    private var connectedSince: [String: Date] = [:]
    private var connectedAt: [String: ContinuousClock.Instant] = [:]
    /// Backpressure per connected peer: unwritten bytes and the requests waiting on them.
    private var flows: [String: OutboundFlow] = [:]
    /// The roots of the checkpoints stored lately, per log: a head a relay announces for a
    /// size stored here a moment ago is checked against this instead of a proof from the store.
    private var recentRoots: [String: RecentRoots] = [:]
    /// When a write to each peer last completed (or the connection was made): a peer that takes
    /// nothing of what it is sent for `writeStallTimeout` is closed (its reads may be held, so
    /// the read-idle timer cannot tell).
    private var lastWriteProgress: [String: ContinuousClock.Instant] = [:]
    static let writeStallTimeout = Duration.seconds(30)
    /// A peer connection counts as not writable (and its reads are held) only past 16 MiB
    /// unwritten, the backpressure's soft limit: with NIO's 64 KiB default, every batch in
    /// flight stopped the node reading the peer's next request, and catch-up halved.
    static let peerWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 8 << 20, high: 16 << 20)
    private var stopped = false
    private var antiEntropy: RepeatedTask?
    /// Alerts since start, per kind and peer, oldest first (bounded per key).
    private var alerts: [String: [(time: Date, alert: ReplicationAlert)]] = [:]
    private let metrics: NodeMetrics
    /// Told (on the engine's queue) each time a replica batch is durable: log and new size.
    private let onStored: (@Sendable (_ log: String, _ size: UInt64) -> Void)?
    /// Given each durable replica batch before it is acknowledged or passed on (the view).
    private let onIngest: (@Sendable (_ log: String, _ entries: [Entry], _ checkpoint: Checkpoint) -> Void)?
    /// The data-sharing agreements as they stand (egress and ingress decide by them).
    private let policy: @Sendable () -> Policy
    /// Told of every batch sent with restricted payloads in full: (recipient, log, the batch's
    /// span, how many payloads, agreement, the recipient's access under it).
    private let onDisclosed: @Sendable (_ recipient: String, _ log: String, _ span: ClosedRange<UInt64>, _ count: Int, _ agreement: String, _ access: Access) -> Void

    init(store: LedgerStore, federation: Federation, node: String, ownLog: String, clientContext: TLSContext,
         group: any EventLoopGroup, logger: Logger, metrics: NodeMetrics, onStored: (@Sendable (_ log: String, _ size: UInt64) -> Void)? = nil,
         onIngest: (@Sendable (_ log: String, _ entries: [Entry], _ checkpoint: Checkpoint) -> Void)? = nil,
         policy: @escaping @Sendable () -> Policy = { Policy(owners: [:]) },
         onDisclosed: @escaping @Sendable (_ recipient: String, _ log: String, _ span: ClosedRange<UInt64>, _ count: Int, _ agreement: String, _ access: Access) -> Void = { _, _, _, _, _, _ in }) throws {
        self.onStored = onStored
        self.metrics = metrics
        self.onIngest = onIngest
        self.policy = policy
        self.onDisclosed = onDisclosed
        self.store = store
        self.federation = federation
        self.me = node
        self.clientContext = clientContext
        self.group = group
        self.logger = logger
        evidenceDirectory = store.directory.url.appendingPathComponent("evidence")
        // Every federation log has a place here: replicas are registered with their pinned keys.
        var held = Dictionary(uniqueKeysWithValues: try store.logs().map { ($0.name, $0) })
        for member in federation.members where held[member.log] == nil {
            held[member.log] = try store.addLog(name: member.log, origin: member.verifier.name, publicKey: member.verifier.publicKey,
                                                own: false, nowMillis: wallClockMillis())
        }
        for member in federation.members {
            let log = held[member.log]!
            guard log.verifier == member.verifier else {
                throw NodeStartupError("log \(log.name) in \(store.directory.url.path) has key \(log.verifier.vkey), but the federation file pins \(member.verifier.vkey)")
            }
        }
        logs = held
        var heads: [String: LogHead] = [:]
        for (name, log) in held {
            if let stored = try store.latestCheckpoint(log) { heads[name] = LogHead(checkpoint: stored.checkpoint, note: stored.note) }
        }
        let quarantined = Self.loadEvidence(evidenceDirectory, federation: federation, logger: logger)
        var settings = ReplicationSettings(node: node, federation: federation.name, ownLog: ownLog,
                                           verifiers: Dictionary(uniqueKeysWithValues: federation.members.map { ($0.log, $0.verifier) }),
                                           peers: federation.members.map(\.id).filter { $0 != node })
        settings.writers = Dictionary(uniqueKeysWithValues: federation.members.map { ($0.log, $0.id) })
        replicator = Replicator(settings: settings, heads: heads, quarantined: quarantined, seed: UInt64.random(in: 0...UInt64.max))
    }

    // MARK: Lifecycle

    func start() {
        queue.async {
            self.run(self.replicator.start())
            let loop = self.group.next()
            self.antiEntropy = loop.scheduleRepeatedTask(initialDelay: .milliseconds(Int64(self.replicator.settings.antiEntropyMillis)),
                                                         delay: .milliseconds(Int64(self.replicator.settings.antiEntropyMillis))) { _ in
                self.queue.async {
                    guard !self.stopped else { return }
                    self.closeStalled()
                    self.run(self.replicator.tick())
                }
            }
        }
    }

    /// Stops dialling and closes every peer connection (TLS close_notify first).
    func stop() async {
        let open: [any Channel] = queue.sync {
            stopped = true
            antiEntropy?.cancel()
            return Array(channels.values)
        }
        for channel in open { try? await channel.close().get() }
    }

    // MARK: Events from connections

    /// A TLS connection (either direction) verified `peer`. Of two connections with the same
    /// peer both sides keep the same one (`ConnectionChoice`) and close the other.
    func connected(_ peer: String, channel: any Channel, dialledHere: Bool) {
        queue.async {
            guard !self.stopped else { channel.close(promise: nil); return }
            let canonical = dialledHere == self.replicator.settings.dials(peer)
            if let old = self.channels[peer], old !== channel {
                let age = self.connectedAt[peer].map { ContinuousClock.now - $0 } ?? .zero
                guard ConnectionChoice.keepsNew(newCanonical: canonical, heldCanonical: self.canonical.contains(peer),
                                                heldAgeMillis: UInt64(max(0, age.nanoseconds / 1_000_000))) else {
                    self.logger.debug("closing a second connection; keeping the one held", metadata: ["peer": "\(peer)"])
                    channel.close(promise: nil)
                    return
                }
                old.close(promise: nil)
            }
            self.channels[peer] = channel
            self.flows[peer] = OutboundFlow()
            self.lastWriteProgress[peer] = .now
            if canonical { self.canonical.insert(peer) } else { self.canonical.remove(peer) }
            self.connectedSince[peer] = Date()
            self.connectedAt[peer] = ContinuousClock.now
            self.logger.info("peer connected", metadata: ["peer": "\(peer)"])
            self.run(self.replicator.connected(peer))
        }
    }

    func disconnected(_ peer: String, channel: any Channel) {
        queue.async {
            guard self.channels[peer] === channel else { return }
            self.channels[peer] = nil
            self.flows[peer] = nil
            self.lastWriteProgress[peer] = nil
            self.canonical.remove(peer)
            self.connectedSince[peer] = nil
            self.connectedAt[peer] = nil
            self.logger.info("peer disconnected", metadata: ["peer": "\(peer)"])
            if !self.stopped { self.run(self.replicator.disconnected(peer)) }
        }
    }

    func received(_ message: Message, from peer: String, channel: any Channel) {
        queue.async {
            guard !self.stopped, self.channels[peer] === channel else { return }
            if case .unavailable(let log, let from) = message, self.logs[log] != nil {
                // (Counted only for logs of this federation: a peer's names never become series.)
                self.logger.debug("a request was answered unavailable", metadata: ["peer": "\(peer)", "log": "\(log)", "from": "\(from)"])
                self.metrics.unavailable(sent: false, log: log)
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
        }
    }

    /// The node committed a batch of its own log.
    func committed(_ entries: [Entry], checkpoint: StoredCheckpoint, log: String) {
        queue.async {
            guard !self.stopped, let first = entries.first else { return }
            let batch = Batch(log: log, from: first.header.index, note: checkpoint.note, entries: entries.map(WireEntry.init))
            self.recentRoots[log, default: RecentRoots()].add(size: checkpoint.checkpoint.size, root: checkpoint.checkpoint.root)
            self.run(self.replicator.committed(batch, checkpoint: checkpoint.checkpoint))
        }
    }

    // MARK: Directives

    private func run(_ directives: [Directive]) {
        var pending = directives[...]
        while let directive = pending.popFirst() {
            let more = execute(directive)
            if !more.isEmpty { pending = more[...] + pending }
        }
    }

    private func execute(_ directive: Directive) -> [Directive] {
        switch directive {
        case .send(let peer, let message):
            send(message, to: peer)
            return []
        case .store(let peer, let batch, let checkpoint):
            guard let log = logs[batch.log] else { return replicator.rejected(batch, from: peer, reason: "unknown log") }
            var pendingAlerts: [ReplicationAlert] = []
            do {
                var entries: [Entry] = []
                entries.reserveCapacity(batch.entries.count)
                for (i, wire) in batch.entries.enumerated() {
                    do { entries.append(try Entry(headerBytes: wire.headerBytes, payload: wire.payload)) } catch {
                        throw StoreError(.invalidInput, "entry \(i) of the batch: \(error)")
                    }
                }
                // Ingress (DataFlow): payloads this node may not hold are kept as stubs only
                // and the sender named; stubs of what it may hold refuse the batch.
                if batch.entries.contains(where: { $0.payload == nil || !EntryHeader.isPublic(encoded: $0.headerBytes) }) {
                    let items = entries.map { DataFlow.Item(header: $0.header, payload: $0.payload?.bytes) }
                    let fromWriter = replicator.settings.writer(of: batch.log) == peer
                    let current = batch.end >= (replicator.seen[batch.log]?.size ?? 0)
                    switch DataFlow.ingress(items, holder: batch.log, recipient: me, policy: policy(), at: wallClockMillis(),
                                            fromWriter: fromWriter, current: current) {
                    case .refuse(let reason):
                        return replicator.refused(batch, from: peer, reason: reason)
                    case .keep(let strip, let violations, let forged):
                        for i in strip { entries[i] = entries[i].stub }
                        // Reported once the batch is known to be the origin's (stored below).
                        if !forged.isEmpty {
                            pendingAlerts.append(ReplicationAlert(kind: .violation, log: batch.log, peer: peer,
                                                    message: "\(batch.log) entr\(forged.count == 1 ? "y" : "ies") \(Self.list(forged)) from \(peer): a \(Policy.aggregateType) that is not the published aggregate of its rows under its agreement; kept the stub only"))
                        }
                        if !violations.isEmpty {
                            pendingAlerts.append(ReplicationAlert(kind: .violation, log: batch.log, peer: peer,
                                                    message: "\(peer) sent the payload of \(batch.log) entr\(violations.count == 1 ? "y" : "ies") \(Self.list(violations)) that no agreement lets \(me) hold; kept the stub\(violations.count == 1 ? "" : "s") only"))
                        }
                    }
                }
                try store.ingest(log, from: batch.from, entries: entries, note: batch.note, checkpoint: checkpoint)
                recentRoots[batch.log, default: RecentRoots()].add(size: checkpoint.size, root: checkpoint.root)
                for alert in pendingAlerts { record(alert) }
                onIngest?(batch.log, entries, checkpoint)
                logger.debug("stored batch", metadata: ["log": "\(batch.log)", "from": "\(batch.from)", "to": "\(batch.end)", "peer": "\(peer)"])
                onStored?(batch.log, batch.end)
                return replicator.stored(batch, checkpoint: checkpoint, from: peer)
            } catch {
                return replicator.rejected(batch, from: peer, reason: "\(error)")
            }
        case .serve(let peer, let logName, let from):
            guard channels[peer] != nil else { return [] }
            switch flows[peer, default: OutboundFlow()].request(log: logName, from: from) {
            case .serve:
                serve(logName, from: from, to: peer)
            case .waiting, .duplicate:
                break
            case .overflow(let reason):
                record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: peer, message: "\(peer) does not read what it asks for: \(reason); closing the connection"))
                channels[peer]?.close(promise: nil)
            }
            return []
        case .check(let peer, let logName, let note, let checkpoint):
            guard let log = logs[logName] else { return [] }
            if let root = recentRoots[logName]?.root(size: checkpoint.size), root == checkpoint.root { return [] }
            do {
                let prefix = try store.prefix(log, size: checkpoint.size)
                guard prefix.root != checkpoint.root else { return [] }
                logger.warning("a checkpoint disagrees with the stored tree", metadata: ["log": "\(logName)", "peer": "\(peer)", "size": "\(checkpoint.size)"])
                return replicator.inconsistent(Evidence(log: logName, first: note, second: prefix.note, prefixRoot: prefix.root, proof: prefix.proof))
            } catch {
                logger.error("cannot check a checkpoint", metadata: ["log": "\(logName)", "error": "\(error)"])
                return []
            }
        case .keepEvidence(let evidence):
            keep(evidence)
            return []
        case .alert(let alert):
            record(alert)
            return []
        case .dial(let peer, let after):
            guard !stopped, let member = federation.member(peer) else { return [] }
            group.next().scheduleTask(in: .milliseconds(Int64(after))) {
                // Not if the peer connected meanwhile (it dialled this node).
                self.queue.async { if !self.stopped && self.channels[peer] == nil { self.group.next().execute { self.dial(member) } } }
            }
            return []
        case .close(let peer, let reason):
            logger.warning("closing peer connection", metadata: ["peer": "\(peer)", "reason": "\(PeerText.clean(reason))"])
            channels[peer]?.close(promise: nil)
            return []
        }
    }

    /// Closes connections with bytes unwritten and no write completed for `writeStallTimeout`.
    private func closeStalled() {
        let now = ContinuousClock.now
        for (peer, flow) in flows where flow.unwritten > 0 {
            guard let since = lastWriteProgress[peer], now - since > Self.writeStallTimeout else { continue }
            record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: peer,
                                    message: "\(peer) took none of \(flow.unwritten) bytes sent to it for \(Self.writeStallTimeout); closing the connection"))
            lastWriteProgress[peer] = now
            channels[peer]?.close(promise: nil)
        }
    }

    /// Reads a batch of `logName` from `from` and sends it to `peer` (egress decides what of it).
    private func serve(_ logName: String, from: UInt64, to peer: String) {
        guard let log = logs[logName] else { return }
        do {
            guard let (entries, note) = try store.batch(log, from: from, maxEntries: ProtocolLimits.maxBatchEntries,
                                                        maxBytes: ProtocolLimits.batchBytesBudget) else {
                send(.unavailable(log: logName, from: from), to: peer)
                return
            }
            send(.entries(Batch(log: logName, from: from, note: note, entries: entries.map(WireEntry.init))), to: peer, answering: true)
        } catch {
            logger.error("cannot serve a batch", metadata: ["log": "\(logName)", "from": "\(from)", "error": "\(error)"])
            send(.unavailable(log: logName, from: from), to: peer)
        }
    }

    /// A write to `peer` of `bytes` finished (or failed): serve what waited on it.
    private func written(_ bytes: Int, to peer: String, channel: any Channel) {
        guard channels[peer] === channel, flows[peer] != nil else { return }
        flows[peer]!.written(bytes)
        lastWriteProgress[peer] = .now
        while let next = flows[peer]?.next() { serve(next.log, from: next.from, to: peer) }
    }

    /// Sends `message` to `peer`; entries pass through egress first. A batch egress withholds
    /// is not sent; if it answers the peer's request (`answering`), the peer hears
    /// `unavailable` so it asks the holder at once.
    private func send(_ message: Message, to peer: String, answering: Bool = false) {
        guard let channel = channels[peer] else { return }
        var message = message
        if case .entries(let batch) = message {
            if let allowed = egress(batch, to: peer) {
                message = .entries(allowed)
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
        let frame = message.frame()
        guard frame.count - 4 <= ProtocolLimits.maxFrame else {
            logger.error("a \(message.name) message of \(frame.count) bytes exceeds the frame limit; not sent", metadata: ["peer": "\(peer)"])
            return
        }
        guard flows[peer, default: OutboundFlow()].queued(frame.count) else {
            record(ReplicationAlert(kind: .protocolViolation, log: nil, peer: peer,
                                    message: "\(peer) does not read: more than \(OutboundFlow.Settings().hardLimitBytes >> 20) MiB unwritten; closing the connection"))
            flows[peer] = OutboundFlow()
            channel.close(promise: nil)
            return
        }
        let bytes = frame.count
        channel.writeAndFlush(ByteBuffer(bytes: frame)).whenComplete { _ in
            self.queue.async { self.written(bytes, to: peer, channel: channel) }
        }
    }

    /// Egress: each restricted payload goes to `peer` only if the agreements of the log's holder
    /// in force now give it full access (or aggregate access, for a published aggregate);
    /// otherwise the entry travels as a stub. The same rule
    /// holds when this node relays another node's log.
    private func egress(_ batch: Batch, to peer: String) -> Batch? {
        guard batch.entries.contains(where: { !EntryHeader.isPublic(encoded: $0.headerBytes) }) else { return batch }
        let items = batch.entries.indices.compactMap { i -> (position: Int, header: EntryHeader?, hasPayload: Bool)? in
            let wire = batch.entries[i]
            guard !EntryHeader.isPublic(encoded: wire.headerBytes) else { return nil }
            return (i, try? EntryHeader(decoding: wire.headerBytes), wire.payload != nil)
        }
        switch DataFlow.egress(items, holder: batch.log, recipient: peer, policy: policy(), at: wallClockMillis()) {
        case .withhold:
            // A relay holding only the stub of an entry the peer may have in full: the peer
            // would refuse the batch. It gets it from a node that holds the payload (the holder
            // pushes every commit at once; a request is answered `unavailable`).
            return nil
        case .send(let strip, let disclosed):
            var out = batch
            for i in strip { out.entries[i].payload = nil }
            for item in disclosed {
                // The batch's span: within it every entry under the agreement's labels that its
                // access lets through went in full.
                onDisclosed(peer, batch.log, batch.from...(batch.end - 1), item.count, item.agreement, item.access)
            }
            return out
        }
    }

    /// Log indices for a message, at most 20 of them.
    static func list(_ indices: [UInt64]) -> String {
        indices.prefix(20).map(String.init).joined(separator: ", ") + (indices.count > 20 ? " and \(indices.count - 20) more" : "")
    }

    /// Alerts kept per (kind, peer) — peers are federation members, so the total is bounded —
    /// so a member flooding one kind cannot push out the evidence against it or anyone else.
    static let alertsPerKindAndPeer = 200

    private func record(_ raw: ReplicationAlert) {
        var alert = raw
        alert.message = PeerText.clean(raw.message)
        let metadata: Logger.Metadata = ["alert": "\(alert.kind.rawValue)", "log": "\(PeerText.clean(alert.log ?? "-", limit: 64))", "peer": "\(alert.peer ?? "-")"]
        switch alert.kind {
        case .equivocation: logger.critical("\(alert.message)", metadata: metadata)
        default: logger.warning("\(alert.message)", metadata: metadata)
        }
        let key = "\(alert.kind.rawValue)\u{0}\(alert.peer ?? "")"
        alerts[key, default: []].append((Date(), alert))
        // The first alerts of a kind from a peer are the evidence; the newest show it goes on.
        if alerts[key]!.count > Self.alertsPerKindAndPeer {
            alerts[key]!.remove(at: Self.alertsPerKindAndPeer / 2)
        }
        metrics.alertCounter(alert.kind).increment()
        if alert.kind == .rejected { metrics.rejectedBatches.increment() }
    }

    // MARK: Dialling

    private func dial(_ member: Federation.Member) {
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
                    engine.queue.async { if !engine.stopped && engine.channels[peer] == nil { engine.run(engine.replicator.disconnected(peer)) } }
                }
            }
    }

    /// A dialled connection closed before TLS verified the peer: back off and dial again (if
    /// this node is the one that redials).
    func dialFailed(_ peer: String) {
        queue.async {
            guard !self.stopped, self.channels[peer] == nil else { return }
            self.run(self.replicator.disconnected(peer))
        }
    }

    // MARK: Evidence

    private func keep(_ evidence: Evidence) {
        do {
            try FileManager.default.createDirectory(at: evidenceDirectory, withIntermediateDirectories: true)
            let object: [String: Any] = ["log": evidence.log, "first": evidence.first, "second": evidence.second,
                                         "prefix_root": evidence.prefixRoot.base64, "proof": evidence.proof.map(\.base64)]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
            let url = evidenceDirectory.appendingPathComponent("\(evidence.log).json")
            try data.write(to: url, options: .atomic)
        } catch {
            logger.error("cannot keep equivocation evidence", metadata: ["log": "\(evidence.log)", "error": "\(error)"])
        }
    }

    static func loadEvidence(_ directory: URL, federation: Federation, logger: Logger) -> [String: Evidence] {
        var result: [String: Evidence] = [:]
        for member in federation.members {
            let url = directory.appendingPathComponent("\(member.log).json")
            guard let data = try? Data(contentsOf: url),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let first = object["first"] as? String, let second = object["second"] as? String,
                  let prefix = (object["prefix_root"] as? String).flatMap({ try? Hash(base64: $0) }),
                  let proof = (object["proof"] as? [String])?.compactMap({ try? Hash(base64: $0) }) else { continue }
            let evidence = Evidence(log: member.log, first: first, second: second, prefixRoot: prefix, proof: proof)
            do {
                _ = try evidence.verify(with: member.verifier)
                result[member.log] = evidence
                logger.warning("log is quarantined by kept evidence", metadata: ["log": "\(member.log)"])
            } catch {
                logger.error("kept evidence does not verify; ignoring it", metadata: ["file": "\(url.path)", "error": "\(error)"])
            }
        }
        return result
    }

    // MARK: Status for the API

    struct PeerStatus {
        var id: String
        var role: String
        var address: String
        var connected: Bool
        var since: Date?
    }

    struct LogStatus {
        var log: LogInfo
        var head: LogHead?
        var seenSize: UInt64?
        var quarantined: Bool
    }

    func peers() -> [PeerStatus] {
        queue.sync {
            federation.members.filter { $0.id != me }.map { member in
                PeerStatus(id: member.id, role: member.role.rawValue, address: "\(member.peer)",
                           connected: channels[member.id] != nil && replicator.connectedPeers.contains(member.id),
                           since: connectedSince[member.id])
            }
        }
    }

    func logStatus() -> [LogStatus] {
        queue.sync {
            logs.values.sorted { $0.name < $1.name }.map { log in
                LogStatus(log: log, head: replicator.heads[log.name], seenSize: replicator.seen[log.name]?.size,
                          quarantined: replicator.quarantined[log.name] != nil)
            }
        }
    }

    /// Replication lag per peer and log: how many entries of each log this node holds beyond
    /// what the peer last said it holds.
    func peerLag() -> [(peer: String, log: String, behind: UInt64)] {
        queue.sync {
            let sizes = replicator.peerSizes
            return sizes.keys.sorted().flatMap { peer in
                logs.keys.sorted().map { log in
                    let mine = replicator.heads[log]?.size ?? 0
                    let theirs = sizes[peer]?[log] ?? 0
                    return (peer, log, mine > theirs ? mine - theirs : 0)
                }
            }
        }
    }

    func alertList() -> [(time: Date, alert: ReplicationAlert)] {
        queue.sync { alerts.values.flatMap { $0 }.sorted { $0.time < $1.time } }
    }
    func evidenceList() -> [Evidence] { queue.sync { Array(replicator.quarantined.values) } }
}

/// The handler at the top of every peer connection, both directions: frames in, messages to
/// the engine. It stops reading while the connection is not writable (the peer is not taking
/// what it is sent), so a peer that does not read cannot keep asking.
final class PeerChannelHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    private var readHeld = false
    private let engine: ReplicationEngine
    private let logger: Logger
    private var decoder = FrameDecoder()
    private var peer: String?
    private var failed = false
    /// For a connection this node dialled: the member it meant to reach.
    private let dialled: String?

    init(engine: ReplicationEngine, logger: Logger, dialled: String? = nil) {
        self.engine = engine
        self.logger = logger
        self.dialled = dialled
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            // While this node holds reads the silence is its own doing (the engine closes a
            // peer that takes nothing it is sent for 30 s).
            if readHeld { return }
            // Peers send heads every anti-entropy period; silence this long means a dead link.
            logger.warning("peer connection silent; closing it", metadata: ["peer": "\(peer ?? "-")"])
            context.close(promise: nil)
            return
        }
        if case .handshakeCompleted(let identity, _)? = event as? TLSEvent, case .node(let id)? = identity {
            peer = id
            engine.connected(id, channel: context.channel, dialledHere: dialled != nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let peer, !failed else { return }
        let buffer = unwrapInboundIn(data)
        decoder.feed(buffer.readableBytesView)
        do {
            while let body = try decoder.next() {
                engine.received(try Message(body: body), from: peer, channel: context.channel)
            }
        } catch {
            failed = true
            engine.protocolError(error, from: peer, channel: context.channel)
        }
    }

    func read(context: ChannelHandlerContext) {
        // Before the handshake TLS must read to make progress; afterwards reads wait for the
        // peer to take what it was sent.
        if peer != nil && !context.channel.isWritable {
            readHeld = true
            return
        }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && readHeld {
            readHeld = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let peer {
            engine.disconnected(peer, channel: context.channel)
        } else if let dialled {
            engine.dialFailed(dialled)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The roots of the last checkpoints stored of one log, by size (at most `capacity`).
struct RecentRoots {
    static let capacity = 256
    private var roots: [UInt64: Hash] = [:]
    private var order: [UInt64] = []

    mutating func add(size: UInt64, root: Hash) {
        if roots.updateValue(root, forKey: size) == nil { order.append(size) }
        if order.count > Self.capacity {
            let drop = order.count - Self.capacity
            for size in order.prefix(drop) { roots[size] = nil }
            order.removeFirst(drop)
        }
    }

    func root(size: UInt64) -> Hash? { roots[size] }
}

import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import QuartetAPI
import QuartetCrypto
import QuartetLedger
import QuartetPlan
import QuartetPolicy
import QuartetStore
import QuartetTLS
import Synchronization

/// The node's HTTPS JSON API (docs/openapi.yaml). Only `/healthz` answers without a client
/// certificate; reading needs any federation identity; appending needs the operator
/// certificate of the node's own log.
/// (Over ~350 lines: the route table of docs/openapi.yaml in one place, each route with its
/// access group beside it, so a route's permissions are read where it is registered.)
struct API {
    let node: String
    let ownLog: String
    let store: LedgerStore
    let writer: LogWriter
    let engine: ReplicationEngine
    /// The federation and TLS contexts in force (a reload replaces them).
    let live: LiveSettings
    let view: ViewMaintainer
    /// The browsers signed in.
    let sessions: WebSessions
    let logger: Logger
    let metrics: NodeMetrics
    /// Checks appends and orders them (see `AppendAdmission`).
    let admission: AppendAdmission
    let witness: WitnessService
    let collector: WitnessCollector
    /// Where answers that grow with the data run (`ReadWork`).
    let reads: ReadWork
    /// Lines a request would repeat, said once (`OnceLines`).
    let saidOnce = OnceLines()
    /// The forms' submissions: a repeat is answered, not appended (`FormSubmissions`).
    let submissions: FormSubmissions
    /// The append routes' answers by `Idempotency-Key` (`once`).
    let appendKeys: Submissions<[UInt8]>

    /// The federation in force now.
    var federation: Federation { live.federation }

    /// Marks an answer to `?cosigned-by=` (a node of a version without the query answers the
    /// log's latest checkpoint instead, unmarked).
    static let cosignedByField = HTTPField.Name("Quartet-Cosigned-By")!

    /// The API port's connection slots, when the node serves the API (`Node.run`).
    var slots: ConnectionCap.Counter? = nil
    var gate: Gate { Gate(node: node, ownLog: ownLog, live: live, sessions: sessions, slots: slots) }

    /// The API's router, and the table of its routes (each with its access level).
    func router<Context: APIRequestContext>(_: Context.Type = NodeRequestContext.self) -> (router: Router<Context>, routes: [RouteEntry]) {
        let routes = Routes<Context>(gate: gate, outermost: [RequestLogMiddleware<Context>(metrics: metrics, node: node)])
        addViewRoutes(to: routes)
        addAgreementRoutes(to: routes)
        addWebRoutes(to: routes)
        addFormRoutes(to: routes)
        addOperationsPages(to: routes)
        let probe = HealthProbe(store: store)
        routes.public(.get, "/healthz") { _, _ -> Response in
            // Healthy means the data directory answered a read within the last quarter second.
            if probe.healthy() { return Self.json(HealthResponse(status: "ok", node: node)) }
            return Self.json(HealthResponse(status: "unavailable", node: node, error: "the data directory cannot be read"), status: .serviceUnavailable)
        }
        let readiness = Readiness.Cache()
        // Why the node is not ready, from the engine's status (`/readyz`, and `quartet_ready`).
        let notReady: @Sendable (ReplicationEngine.Status) -> [String] = { [writer, store] status in
            Readiness.evaluate(storeAnswers: probe.healthy(), peers: status.peers.map { ($0.id, $0.connected) },
                               // A checkpoint its writer never backed with entries is not a gap (`unbacked`).
                               logs: status.logs.map { ($0.log.name, $0.head?.size ?? 0, $0.unbacked ? $0.head?.size ?? 0 : $0.seenSize ?? 0) },
                               ownLogHeld: writer.unavailableReason == nil ? nil : writer.log.name, federation: status.federationProblems,
                               writesFailing: Set(store.writes.failing(nowMillis: wallClockMillis()).keys))
        }
        routes.public(.get, "/readyz") { _, _ -> Response in
            let readiness = await readiness.reasons { notReady(await engine.status()) }
            return Self.json(ReadyResponse(status: readiness.isEmpty ? "ready" : "not ready", node: node, reasons: readiness),
                             status: readiness.isEmpty ? .ok : .serviceUnavailable)
        }
        routes.get("/v1/logs", .reader) { request, context, caller -> Response in
            let federation = self.federation
            // A log the view has folded nothing of yet (added by a reload) counts as 0, not absent.
            let folded = view.foldsView ? view.foldedSizes : nil
            let logs = await engine.status().logs.map { status in
                let size = status.head?.size ?? 0, seen = status.seenSize ?? 0
                // Everything stored was checked (signature against the pinned key, leaves
                // against the signed root) before it was stored; a quarantined log's history is
                // contradicted by its own origin, and a disowned copy holds a checkpoint signed
                // past a revocation (a thief's), so neither is verified.
                return LogsResponse.Log(
                    log: status.log.name, origin: status.log.origin, own: status.log.isOwn, size: size, quarantined: status.quarantined,
                    vkey: federation.members.first { $0.log == status.log.name }?.verifier.vkey ?? status.log.verifier.vkey,
                    root: status.head?.checkpoint.root.base64, checkpoint: status.head?.note,
                    checkpointTimeMillis: status.head?.checkpoint.timeMillis, checkpointTime: status.head?.checkpoint.timeMillis.map(iso8601),
                    verified: status.verified, originSizeSeen: status.seenSize, behind: seen > size ? seen - size : 0,
                    witnessed: self.collector.summary(log: status.log.name).map {
                        LogsResponse.Log.Witnessed(size: $0.size, witnesses: $0.witnesses, of: $0.of, quorum: $0.quorum, time: iso8601(min($0.time, UInt64.max / 1000) * 1000))
                    }, viewSize: folded.map { $0[status.log.name] ?? 0 }, disowned: status.disowned ? true : nil)
            }
            return Self.json(LogsResponse(node: node, logs: logs))
        }
        routes.get("/v1/logs/{log}/checkpoint", .reader) { request, context, caller -> Response in
            let log = try findLog(try context.parameters.segment("log"))
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            // `?covering=N`: of any log held here, the newest checkpoint a quorum of its
            // witnesses cosigned that holds its first N entries, with those cosignatures (or
            // else the latest): what `quartet audit --policy` checks records against.
            if let text = request.uri.queryParameters.get("covering") {
                guard let least = Self.digits(text) else {
                    throw HTTPError(.badRequest, message: "covering: expected a number of entries, got \(String(text).prefix(40))")
                }
                // Reads and signature checks in proportion to the cosignatures kept: off the
                // event loops, in the caller's turn (`ReadWork`).
                let plain = headers
                return try await reads.run(caller) {
                    guard let chosen = try witnessedCheckpoint(log, covering: least) else {
                        throw HTTPError(.notFound, message: "log \(log.name) has no checkpoint yet")
                    }
                    return Response(status: .ok, headers: plain, body: .init(byteBuffer: ByteBuffer(string: chosen.note)))
                }
            }
            // `?cosigned-by=ID`: the newest checkpoint of the log held here that member ID's
            // witness cosigned, with that cosignature: what a witness restored from an older
            // state asks its peers at start, to learn what it cosigned since (WitnessRecall).
            if let by = request.uri.queryParameters.get("cosigned-by") {
                let id = String(by)
                guard let member = self.federation.member(id), member.witness != nil else {
                    throw HTTPError(.badRequest, message: "cosigned-by: no member \(id.prefix(64)) with a witness key in the federation")
                }
                // The newest kept whose checkpoint is stored here (a store that cannot say is
                // a 500, never "none": the witness asking would count it as an answer).
                let kept = try self.witness.store.cosignatures(log: log.name, by: member.id)
                for row in kept {
                    // Over the note kept with it, or else the copy's own note at that size.
                    guard let note = try row.note ?? store.checkpoint(log, size: row.size)?.note else { continue }
                    headers[Self.cosignedByField] = member.id
                    return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: note + row.line + "\n")))
                }
                // Cosignatures kept but none of whose checkpoints is stored yet (the copy lags):
                // not "none", which the asking witness would count as an answer.
                guard kept.isEmpty else {
                    throw HTTPError(.serviceUnavailable, message: "this node holds cosignatures by \(member.id)'s witness of log \(log.name) whose checkpoints it does not hold yet; ask again")
                }
                throw HTTPError(.notFound, message: "this node holds no cosignature by \(member.id)'s witness of log \(log.name)")
            }
            guard let checkpoint = try store.latestCheckpoint(log) else {
                throw HTTPError(.notFound, message: "log \(log.name) has no checkpoint yet")
            }
            // This node's own log: the origin's signature line, then the cosignatures its
            // witnesses gave this checkpoint (each verified when it came).
            // (A witness database that cannot be read costs the cosignatures, not the checkpoint.)
            let cosignatures = log.name == ownLog ? ((try? self.witness.store.cosignatures(log: log.name, size: checkpoint.checkpoint.size)) ?? [:]) : [:]
            let lines = cosignatures.keys.sorted().map { cosignatures[$0]!.line + "\n" }.joined()
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: checkpoint.note + lines)))
        }
        routes.get("/v1/witnesses", .reader) { request, context, caller -> Response in
            let status = self.collector.status()
            let members = self.collector.witnessMembers
            let witnesses = members.map { m in
                let w = status[m.id]
                return WitnessesResponse.Witness(id: m.id, vkey: m.witness?.vkey ?? "", cosignedSize: w?.cosigned, cosignedTime: w?.cosignedTime.map { iso8601(min($0, UInt64.max / 1000) * 1000) },
                                                 failing: w?.lastError != nil, lastError: w?.lastError)
            }
            return Self.json(WitnessesResponse(log: ownLog, quorum: WitnessPolicy.majority(of: members.count), witnesses: witnesses,
                                               quorumLatency: self.collector.quorumLatency().map { .init(size: $0.size, millis: $0.millis, at: $0.at) }))
        }
        // C2SP tlog-witness: this node cosigns the other members' checkpoints (docs/witness.md).
        // Open to any federation identity (the spec asks for none beyond the checkpoint's
        // signature; this API port admits federation identities only), each member node in
        // lanes of its own and everyone else in one, bounded (`WitnessLanes`).
        let lanes = WitnessLanes()
        routes.post("/witness/add-checkpoint", .reader) { request, context, caller -> Response in
            let body = try await request.collectBody(upTo: Witnessing.maxBodyBytes, context: context)
            let lane: WitnessLanes.Lane
            if case .node(let id) = caller.identity, self.federation.members.contains(where: { $0.id == id }) { lane = .member(id) } else { lane = .others }
            if let wait = lanes.take(lane) {
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; charset=utf-8"
                headers[.retryAfter] = "1"
                let limits = WitnessLanes.limits(lane)
                let text: String
                switch wait {
                case .busy:
                    let who = lane == .others ? "callers other than member nodes, together," : "a member node"
                    let rate = limits.perSecond.map { " and \(Int($0)) a second" } ?? ""
                    text = "\(who) may have at most \(limits.inFlight) add-checkpoint request(s) in hand at once\(rate); ask again later\n"
                case .refused:
                    text = "this node refused more than \(Int(limits.refusedPerSecond ?? 0)) of this caller's add-checkpoint requests a second; ask again later\n"
                }
                return Response(status: .tooManyRequests, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
            }
            let answer = await self.witness.addCheckpointQueued(Array(body.readableBytesView), clock: wallClockMillis)
            // Refused: anything but cosigned, the 409 an honest node follows, or not ready.
            lanes.leave(lane, refused: (400..<500).contains(answer.status) && answer.status != 409)
            var headers = HTTPFields()
            headers[.contentType] = answer.contentType
            return Response(status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: answer.body)))
        }
        // What this node's witness last cosigned of each log, for its peers to keep (finding 169).
        routes.get("/v1/witness/cosigned", .reader) { request, context, caller -> Response in
            guard let notes = try Self.mapStoreError({ try self.witness.cosignedNotes() }) else {
                throw HTTPError(.serviceUnavailable, message: "this node does not witness")
            }
            return Self.json(WitnessCosignedResponse(witness: node, notes: notes))
        }
        routes.get("/v1/logs/{log}/entries", .reader) { request, context, caller -> Response in
            let log = try findLog(try context.parameters.segment("log"))
            let from = try Self.number(request, "from") ?? 0
            let limit = try Self.number(request, "limit") ?? 100
            guard (1...1000).contains(limit) else { throw HTTPError(.badRequest, message: "limit must be from 1 to 1000") }
            // Up to 4 MiB of payloads read and encoded: off the event loops (`ReadWork`).
            return try await reads.run(caller) {
                let size = try store.size(log)
                let entries = try store.entries(log, from: from, limit: Int(min(limit, size > from ? size - from : 0)), maxPayloadBytes: Self.maxResponsePayloadBytes)
                // Bounded by payload bytes as well as by count (the store stops reading past
                // `maxResponsePayloadBytes`); `next` says where the next page starts.
                let policy = view.policy
                let shown = entries.map { EntryBody(disclosable($0, to: caller.identity, policy: policy)) }
                return Self.json(EntriesResponse(log: log.name, from: from, size: size, next: from + UInt64(shown.count), entries: shown))
            }
        }
        routes.get("/v1/logs/{log}/proofs/inclusion", .reader) { request, context, caller -> Response in
            let log = try findLog(try context.parameters.segment("log"))
            guard let index = try Self.number(request, "index") else { throw HTTPError(.badRequest, message: "index is required") }
            let size = try Self.number(request, "size")
            // A proof is some hundred reads: off the event loops, in the caller's turn.
            return try await reads.run(caller) {
                Self.json(InclusionProofBody(try Self.mapStoreError { try store.inclusionProof(log, index: index, size: size) }))
            }
        }
        routes.get("/v1/logs/{log}/proofs/consistency", .reader) { request, context, caller -> Response in
            let log = try findLog(try context.parameters.segment("log"))
            guard let from = try Self.number(request, "from") else { throw HTTPError(.badRequest, message: "from is required") }
            let to = try Self.number(request, "to")
            return try await reads.run(caller) {
                Self.json(ConsistencyProofBody(try Self.mapStoreError { try store.consistencyProof(log, from: from, to: to) }))
            }
        }
        routes.post("/v1/logs/{log}/entries", .operator) { request, context, who -> Response in
            let name = try context.parameters.segment("log")
            guard name == ownLog else {
                let writer = federation.members.first { $0.log == name }?.id
                throw HTTPError(.forbidden, message: writer.map { "log \(name) is written by node \($0); append there" } ?? "no log named \(name) in this federation")
            }
            let key = try Self.idempotencyKey(request)
            let body = try await request.collectBody(upTo: Self.maxBody, context: context)
            guard case .object(let object)? = try? JSONValue.parse(Array(body.readableBytesView)) else {
                throw HTTPError(.badRequest, message: "the body must be a JSON object: {type, classification?, payload} or {entries: [...]} (at most 1,000)")
            }
            if case .array(let items)? = object["entries"] {
                guard object.count == 1 else { throw HTTPError(.badRequest, message: "a batch is {\"entries\": [...]} and nothing else") }
                guard (1...1000).contains(items.count) else { throw HTTPError(.badRequest, message: "entries: expected 1 to 1,000 entries, got \(items.count)") }
                return try await once(key: key, route: "entries", body: body, caller: who) {
                    let receipts = try await admit(items.enumerated().map { ("entries[\($0.offset)].", $0.element) }, caller: who)
                    return Self.jsonBytes(AppendBatchResponse(log: ownLog, entries: receipts.map(ReceiptBody.init)))
                }
            }
            return try await once(key: key, route: "entries", body: body, caller: who) {
                Self.jsonBytes(ReceiptBody(try await admit([("", .object(object))], caller: who)[0]))
            }
        }
        // Recording progress: the payload is the body, the type is the route.
        for (path, type) in [("/v1/record/status", PlanEntryType.status), ("/v1/record/reading", .reading), ("/v1/record/evidence", .evidence)] {
            routes.post(path, .operator) { request, context, who -> Response in
                let key = try Self.idempotencyKey(request)
                let body = try await request.collectBody(upTo: Self.maxBody, context: context)
                guard let payload = try? JSONValue.parse(Array(body.readableBytesView)) else {
                    throw HTTPError(.badRequest, message: "payload: not valid JSON")
                }
                let item: JSONValue = .object(["type": .string(type.rawValue), "payload": payload])
                return try await once(key: key, route: path, body: body, caller: who) { Self.jsonBytes(ReceiptBody(try await admit([("", item)], caller: who)[0])) }
            }
        }
        routes.get("/v1/peers", .reader) { request, context, caller -> Response in
            let formatter = ISO8601DateFormatter()
            let peers = await engine.status().peers.map { peer in
                PeersResponse.Peer(node: peer.id, role: peer.role, peer: peer.address, connected: peer.connected,
                                   since: peer.since.map(formatter.string(from:)), protocolVersion: peer.protocolVersion.map(Int.init))
            }
            return Self.json(PeersResponse(node: node, peers: peers))
        }
        routes.get("/metrics", .reader) { request, context, caller -> Response in
            // Counters and timers are kept as things happen (NodeMetrics); the state is read now.
            metrics.countTLSRefusals(api: TLSHandler.apiRefusals.total, peer: TLSHandler.refusals.total)
            let status = await engine.status()
            let logs = status.logs
            let now = wallClockMillis()
            // The own log's series alone (a log that stops being this node's loses it).
            let ownAheadName = "quartet_own_log_checkpoint_ahead_seconds"
            let ownAheadHelp = "How far this node's own log's latest checkpoint is dated ahead of its clock (restricted appends are refused meanwhile)."
            metrics.keepOnly(ownAheadName, label: "log", help: ownAheadHelp, values: Set(logs.filter { $0.log.isOwn && $0.head?.checkpoint.timeMillis != nil }.map(\.log.name)))
            for log in logs {
                let name = [("log", log.log.name)]
                let held = log.head?.size ?? 0, seen = log.seenSize ?? 0
                metrics.gauge("quartet_log_entries", name, help: "Entries held per log.").set(Int64(clamping: held))
                metrics.gauge("quartet_log_behind_entries", name, help: "Entries of a log seen signed by its origin but not yet held.")
                    .set(Int64(clamping: seen > held ? seen - held : 0))
                metrics.gauge("quartet_log_quarantined", name, help: "1 if the log is quarantined for equivocation.").set(Int64(log.quarantined ? 1 : 0))
                metrics.gauge("quartet_log_disowned", name, help: "1 if this copy of the log holds a checkpoint signed past a revocation and no longer follows the log (recover it).")
                    .set(Int64(log.disowned ? 1 : 0))
                if let t = log.head?.checkpoint.timeMillis {
                    metrics.gauge("quartet_log_checkpoint_age_seconds", name, help: "Age of the latest checkpoint held per log (replication lag as time).")
                        .set(Double(now > t ? now - t : 0) / 1000)
                    // A checkpoint dated ahead reads as age 0 however long nothing arrives: said
                    // apart, or a stalled log dated ahead (its node's clock ran fast once) is
                    // never seen stale.
                    metrics.gauge("quartet_log_checkpoint_ahead_seconds", name, help: "How far the latest checkpoint held per log is dated ahead of this node's clock.")
                        .set(Double(t > now ? t - now : 0) / 1000)
                    // The own log's alone too, for the one alert only its node should raise
                    // (its restricted appends are refused meanwhile).
                    if log.log.isOwn {
                        metrics.gauge(ownAheadName, name, help: ownAheadHelp).set(Double(t > now ? t - now : 0) / 1000)
                    }
                }
            }
            // Writes to the data directory, per path: failing now, and failures since start.
            let writesFailing = store.writes.failing(nowMillis: now), writeFailures = store.writes.failures
            for path in WriteHealth.Path.allCases {
                let label = [("path", path.rawValue)]
                metrics.gauge("quartet_store_write_failing", label, help: "1 while writes of this path to the data directory fail (a full disk, an IO error, a read-only mount).")
                    .set(Int64(writesFailing[path] == nil ? 0 : 1))
                metrics.gauge("quartet_store_write_failures", label, help: "Failed writes of this path to the data directory since the node started.")
                    .set(Int64(clamping: writeFailures[path] ?? 0))
            }
            let walHelp = "Bytes of a store's SQLite write-ahead log (cut back to 64 MiB when it starts over; above that for long, readers keep it from starting over)."
            let wals = store.walSizes()
            metrics.keepOnly("quartet_store_wal_bytes", label: "file", help: walHelp, values: Set(wals.keys))
            for (file, bytes) in wals { metrics.gauge("quartet_store_wal_bytes", [("file", file)], help: walHelp).set(Int64(clamping: bytes)) }
            for peer in status.peers {
                metrics.gauge("quartet_peer_connected", [("peer", peer.id)], help: "1 if the peer is connected.").set(Int64(peer.connected ? 1 : 0))
            }
            // A member a reload removed loses its series (frozen at 0, it kept
            // QuartetPeerDisconnected firing until a restart).
            metrics.keepOnly("quartet_peer_connected", label: "peer", help: "1 if the peer is connected.", values: Set(status.peers.map(\.id)))
            let lagHelp = "Entries of a log this node holds beyond what the peer last said it holds."
            for lag in status.lag {
                metrics.gauge("quartet_peer_log_behind_entries", [("peer", lag.peer), ("log", lag.log)], help: lagHelp).set(Int64(clamping: lag.behind))
            }
            metrics.keepOnly("quartet_peer_log_behind_entries", labels: ["peer", "log"], help: lagHelp, values: Set(status.lag.map { [$0.peer, $0.log] }))
            // Witnessing of this node's log: how far each witness is behind, and since when.
            let ownSize = logs.first { $0.log.name == ownLog }?.head?.size ?? 0
            let behind = ("quartet_witness_behind_entries", "Entries of this node's log beyond the checkpoint the witness last cosigned.")
            let age = ("quartet_witness_cosignature_age_seconds", "Seconds since the witness's newest cosignature of this node's log.")
            let failing = ("quartet_witness_failing", "1 if the last request to the witness failed.")
            // The federation's witnesses now: a member a reload removed loses its series.
            let current = Set(self.collector.witnessMembers.map(\.id))
            let witnesses = self.collector.status().filter { current.contains($0.key) }
            for (name, help) in [behind, failing] { metrics.keepOnly(name, label: "witness", help: help, values: Set(witnesses.keys)) }
            metrics.keepOnly(age.0, label: "witness", help: age.1, values: Set(witnesses.filter { $0.value.cosignedTime != nil }.keys))
            for (witness, state) in witnesses {
                let label = [("witness", witness)]
                metrics.gauge(behind.0, label, help: behind.1)
                    .set(Int64(clamping: ownSize > (state.cosigned ?? 0) ? ownSize - (state.cosigned ?? 0) : 0))
                if let time = state.cosignedTime {
                    metrics.gauge(age.0, label, help: age.1).set(Double(now / 1000 > time ? now / 1000 - time : 0))
                }
                metrics.gauge(failing.0, label, help: failing.1).set(Int64(state.lastError == nil ? 0 : 1))
            }
            // This node's clock against its witnesses' (finding 289): restricted data is held
            // while they disagree; the offset only while there is a verdict.
            let verdict = self.collector.clock.current
            let offsetHelp = "This node's wall clock minus its log's witnesses' (the median of their newest cosignatures' times; positive: ahead)."
            metrics.keepOnly("quartet_clock_offset_seconds", labels: [], help: offsetHelp, values: verdict.offsetSeconds == nil ? [] : [[]])
            if let offset = verdict.offsetSeconds { metrics.gauge("quartet_clock_offset_seconds", [], help: offsetHelp).set(offset) }
            metrics.gauge("quartet_clock_disagrees", [], help: "1 while this node's clock disagrees with a majority of its witnesses' by more than 30 s: restricted data is held (egress, ingress, restricted appends, purges).")
                .set(Int64(verdict.suspect ? 1 : 0))
            // As a witness: how long its newest cosignature of each other member's log has been
            // beyond its copy of that log (0 once the copy holds it).
            let aheadName = "quartet_witness_ahead_of_copy_seconds"
            let aheadHelp = "Seconds the checkpoint of this log this node's witness last cosigned has been beyond its copy of the log (it cosigns no more of the log until the copy holds it)."
            let otherLogs = Set(live.federation.members.filter { $0.id != self.node }.map(\.log))
            metrics.keepOnly(aheadName, label: "log", help: aheadHelp, values: otherLogs)
            let ahead = self.witness.secondsAheadOfCopies()
            for log in otherLogs { metrics.gauge(aheadName, [("log", log)], help: aheadHelp).set(ahead[log] ?? 0) }
            for (status, count) in self.witness.answered.withLockedValue({ $0 }) {
                metrics.gauge("quartet_witness_requests_answered", [("status", String(status))], help: "add-checkpoint requests this node's witness answered, by status.")
                    .set(Int64(count))
            }
            metrics.gauge("quartet_view_update_seconds_max", help: "The slowest fold of a batch into the combined view since start.")
                .set(view.slowestUpdateSeconds)
            // Ready as `/readyz` says (an own log held read-only by its gate, no member
            // connected, a log far behind, a newer federation file, writes failing).
            metrics.gauge("quartet_ready", help: "1 if the node is ready for traffic (GET /readyz answers 200), else 0.")
                .set(Int64(notReady(status).isEmpty ? 1 : 0))
            metrics.gauge("quartet_federation_version", help: "The version of the federation file in force (accepted at start or by the last reload).")
                .set(Int64(clamping: live.federation.version))
            metrics.gauge("quartet_certificate_expiry_timestamp_seconds", help: "When the node's TLS certificate in force expires (Unix time).")
                .set(live.contexts.notAfter.timeIntervalSince1970)
            // No series while no CA of tls.ca signed the certificate (one a reload took away).
            let caName = "quartet_ca_certificate_expiry_timestamp_seconds"
            let caHelp = "When the first CA of the node's TLS certificate chain expires (Unix time): peers refuse the node's chain from then."
            metrics.keepOnly(caName, labels: [], help: caHelp, values: live.contexts.caNotAfter == nil ? [] : [[]])
            if let caNotAfter = live.contexts.caNotAfter { metrics.gauge(caName, help: caHelp).set(caNotAfter.timeIntervalSince1970) }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        // The answer grows with the alerts a member can raise (thousands, ~1 KiB each): made
        // on the read pool, bounded per caller, as the view's answers are (finding 271).
        routes.get("/v1/alerts", .reader) { request, context, caller -> Response in
            try await reads.run(caller) {
                // The evidence first: a log quarantined has its alert raised before (in this run,
                // or at start for evidence kept from before it), so the answer lists it with the
                // alert that says why.
                let quarantined = engine.evidenceList()
                let alerts = engine.alertSnapshot().list.map { item in
                    let alert = item.alert.shown(to: caller.identity, ownLog: ownLog)
                    // Whole seconds, as `ISO8601DateFormatter` wrote them (`…:ssZ`).
                    let seconds = UInt64(max(0, item.time.timeIntervalSince1970))
                    return AlertsResponse.Alert(time: String(ViewQueries.iso(seconds * 1000).dropLast(5)) + "Z", kind: alert.kind.rawValue,
                                                message: alert.message, log: alert.log, peer: alert.peer)
                }
                let evidence = quarantined.map { e in
                    AlertsResponse.Evidence(log: e.log, first: e.first, second: e.second, prefixRoot: e.prefixRoot.base64, proof: e.proof.map(\.base64))
                }
                return Self.json(AlertsResponse(node: node, alerts: alerts, quarantined: evidence))
            }
        }
        return routes.built
    }
}

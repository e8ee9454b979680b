import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetHarness
import QuartetLedger
import QuartetReplication
import QuartetStore
import QuartetTestKit
import QuartetTLS
import Testing

/// A federation made by `quartet demo --no-start`, its nodes run as separate `quartet serve`
/// processes, read and written through their HTTPS APIs with curl.
final class LocalFederation: @unchecked Sendable {
    /// Writes `file` to `path`, signed by every member's log key (a node refuses a federation
    /// file a quorum has not signed).
    func writeSigned(_ file: FederationFile, to path: String) throws {
        try ProvisionedFile.write(file, to: path)
        let layout = FederationLayout(root: root)
        for (i, member) in file.nodes.enumerated() {
            // As each member's operator does it, on its own host: `quartet federation sign`.
            let signed = try TestKit.quartet(["federation", "sign", "--file", path, "--member", member.id,
                                              "--data", layout.dataDirectory(member.id)] + (i == 0 ? ["--fresh"] : []) + (FileManager.default.fileExists(atPath: "\(layout.dataDirectory(member.id))/federation.accepted.json") ? ["--accepted", "\(layout.dataDirectory(member.id))/federation.accepted.json"] : ["--no-previous"]))
            guard signed.status == 0 else { throw TestKitError("quartet federation sign failed: \(signed.stderr)") }
        }
    }

    let root: URL
    let demo: [String: Any]
    let nodes: [String: [String: Any]]
    var processes: [String: NodeProcess] = [:]
    let ca: String
    let reader: (certificate: String, key: String)

    init() throws {
        root = try TestKit.temporaryDirectory("federation")
        let made = try TestKit.quartet(["demo", "--dir", root.path, "--no-start"])
        guard made.status == 0 else { throw TestKitError("quartet demo --no-start failed: \(made.stderr)") }
        demo = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("demo.json"))) as! [String: Any]
        var nodes: [String: [String: Any]] = [:]
        for node in demo["nodes"] as! [[String: Any]] { nodes[node["name"] as! String] = node }
        self.nodes = nodes
        ca = demo["ca_certificate"] as! String
        let r = demo["reader"] as! [String: Any]
        reader = (r["certificate"] as! String, r["key"] as! String)
    }

    static let all = ["uk", "wales", "england", "scotland", "northern-ireland"]

    /// Starts `names`. `onlyCopy`: each starts with `--i-am-the-only-copy` (a node started
    /// alone would otherwise hold appends until peers say how much of its log they hold).
    /// `onePeerAnswers`: each opens its log once one peer has answered (`--peer-answers 1`;
    /// by default two of the four must, which a test running two of the five cannot give).
    func start(_ names: [String] = all, onlyCopy: Bool = false, onePeerAnswers: Bool = false) throws {
        for name in names {
            processes[name] = try NodeProcess(config: config(name), arguments: (onlyCopy ? ["--i-am-the-only-copy"] : []) + (onePeerAnswers ? Self.onePeerAnswers : []))
        }
    }

    /// `serve` opens its log once one peer has answered: for tests that run two of the five members.
    static let onePeerAnswers = ["--peer-answers", "1"]

    func config(_ name: String) -> String { nodes[name]!["config"] as! String }
    func api(_ name: String) -> String { nodes[name]!["api"] as! String }
    func path(_ name: String, _ key: String) -> String { nodes[name]![key] as! String }

    func stop() {
        for (_, process) in processes { _ = process.stop(signal: SIGTERM, timeout: 10) }
        processes = [:]
    }

    deinit {
        for (_, process) in processes { _ = process.stop(signal: SIGKILL, timeout: 5) }
        try? FileManager.default.removeItem(at: root)
    }

    func curl(_ arguments: [String]) throws -> (body: String, status: Int) {
        let curl = try #require(TestKit.which("curl"))
        let result = try TestKit.run(curl, ["-sS", "--max-time", "15", "--cacert", ca, "-w", "\n%{http_code}"] + arguments)
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (lines.dropLast().joined(separator: "\n"), Int(lines.last ?? "") ?? 0)
    }

    /// Appends at `node`'s own log as its operator; returns the acknowledged index.
    @discardableResult
    func append(_ node: String, _ payload: String) throws -> UInt64 {
        let body = #"{"type":"test.note","payload":\#(payload)}"#
        let (text, status) = try curl(["--cert", path(node, "operator_certificate"), "--key", path(node, "operator_key"),
                                       "-H", "content-type: application/json", "-d", body, "\(api(node))/v1/logs/\(node)/entries"])
        guard status == 201, let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let index = object["index"] as? Int else { throw TestKitError("append at \(node): \(status) \(text)") }
        return UInt64(index)
    }

    func get(_ node: String, _ path: String) throws -> [String: Any] {
        let (text, status) = try curl(["--cert", reader.certificate, "--key", reader.key, "\(api(node))\(path)"])
        guard status == 200, let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestKitError("GET \(path) at \(node): \(status) \(text)")
        }
        return object
    }

    /// (size, root) of every log `node` holds.
    func heads(_ node: String) throws -> [String: String] {
        try headsAndFolded(node).heads
    }

    /// (size, root) of every log `node` holds, and whether its view has folded all of them
    /// (replicated batches are folded a few ms after they are stored: `view_size`).
    func headsAndFolded(_ node: String) throws -> (heads: [String: String], folded: Bool) {
        var out: [String: String] = [:]
        var folded = true
        for log in try get(node, "/v1/logs")["logs"] as! [[String: Any]] {
            out[log["log"] as! String] = "\(log["size"] as! Int) \(log["root"] as? String ?? "-")"
            if let viewSize = log["view_size"] as? Int, viewSize < log["size"] as! Int { folded = false }
        }
        return (out, folded)
    }

    /// Waits until every node in `names` holds the same heads, has folded them into its view,
    /// and `check` accepts them.
    func waitConverged(_ names: [String], timeout: TimeInterval = 30, check: ([String: String]) -> Bool = { _ in true }) throws -> [String: String] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: [String: String]] = [:]
        var unfolded: [String] = []
        while Date() < deadline {
            last = [:]
            unfolded = []
            for name in names {
                guard let got = try? headsAndFolded(name) else { continue }
                last[name] = got.heads
                if !got.folded { unfolded.append(name) }
            }
            let distinct = Set(last.values.map { $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") })
            if last.count == names.count, distinct.count == 1, unfolded.isEmpty, let heads = last.values.first, check(heads) { return heads }
            usleep(200_000)
        }
        throw TestKitError("no convergence within \(timeout) s: \(last); views not yet folded to what is held at: \(unfolded)")
    }

    func size(_ heads: [String: String], _ log: String) -> Int { Int(heads[log]?.split(separator: " ").first ?? "0") ?? 0 }
}

/// A peer that speaks the replication protocol by hand, with a federation certificate.
final class FakePeer: @unchecked Sendable {
    let channel: any Channel
    private let inbox = NIOLockedValueBox<[Message]>([])
    private let closed = NIOLockedValueBox(false)
    /// Its own event loop thread, so nothing else in the test process can delay what it sends.
    private let group: MultiThreadedEventLoopGroup

    /// - Parameter hello: sent by the connection's event loop as soon as it connects (held by
    ///   TLS until the handshake ends), not by the test's task: with the suites in parallel on
    ///   two cores a test task can resume more than 10 s later, when uk has already closed the
    ///   connection as silent.
    /// - Parameter receiveBuffer: the socket's receive buffer, set before it connects (a small
    ///   one keeps the sender's kernel buffers small, as a slow link does: on loopback they grow
    ///   to megabytes).
    init(as node: String, to target: String, port: Int, federation: LocalFederation, hello: Message? = nil, receiveBuffer: Int32? = nil) async throws {
        let pki = federation.root.appendingPathComponent("pki")
        let context = try TLSContext(role: .client, certificateChain: pki.appendingPathComponent("\(node)/\(node).pem").path,
                                     privateKey: pki.appendingPathComponent("\(node)/\(node).key").path, trustRoots: federation.ca)
        var logger = Logger(label: "fake")
        logger.logLevel = .critical
        let quiet = logger
        let inbox = self.inbox, closed = self.closed
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.group = group
        do {
            var bootstrap = ClientBootstrap(group: group)
            if let receiveBuffer { bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer)) }
            channel = try await bootstrap
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            try TLSHandler(context: context, policy: .node(target), serverName: target, logger: quiet),
                            FrameCollector(inbox: inbox),
                        ])
                    }
                }
                .connect(host: "127.0.0.1", port: port)
                .flatMap { channel in
                    guard let hello else { return channel.eventLoop.makeSucceededFuture(channel) }
                    // A member is never silent for long (heads every anti-entropy round); the
                    // fake says an empty heads every 3 s from its event loop, so a starved test
                    // task cannot make uk close it as silent (10 s).
                    let keepAlive = channel.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(3), delay: .seconds(3)) { _ in
                        channel.writeAndFlush(ByteBuffer(bytes: Message.heads([]).frame()), promise: nil)
                    }
                    channel.closeFuture.whenComplete { _ in keepAlive.cancel() }
                    return channel.writeAndFlush(ByteBuffer(bytes: hello.frame())).map { channel }
                }
                .get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        channel.closeFuture.whenComplete { _ in closed.withLockedValue { $0 = true } }
    }

    deinit { group.shutdownGracefully { _ in } }

    func send(_ message: Message) { send(raw: message.frame()) }
    func send(raw bytes: [UInt8]) { channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil) }
    var isClosed: Bool { closed.withLockedValue { $0 } }
    func close() { channel.close(promise: nil) }

    /// Takes the `entries` messages received so far out of the inbox; returns their payload bytes.
    func drainEntryBytes() -> Int {
        inbox.withLockedValue { inbox in
            var bytes = 0
            inbox.removeAll { message in
                guard case .entries(let batch) = message else { return false }
                bytes += batch.entries.reduce(0) { $0 + ($1.payload?.bytes.count ?? 0) + $1.headerBytes.count }
                return true
            }
            return bytes
        }
    }

    func wait(timeout: TimeInterval = 10, for match: (Message) -> Bool) throws -> Message {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let found = inbox.withLockedValue({ $0.first(where: match) }) { return found }
            if isClosed { throw TestKitError("the connection closed before a matching message; got \(inbox.withLockedValue { $0.map(\.name) })") }
            usleep(20_000)
        }
        throw TestKitError("no matching message within \(timeout) s; got \(inbox.withLockedValue { $0.map(\.name) })")
    }
}

final class FrameCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private var decoder = FrameDecoder()
    private let inbox: NIOLockedValueBox<[Message]>
    init(inbox: NIOLockedValueBox<[Message]>) { self.inbox = inbox }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        decoder.feed(unwrapInboundIn(data).readableBytesView)
        // A frame or message that does not decode is recorded (as an error message naming why),
        // not dropped: a test waiting for a message then says what came instead.
        do {
            while let body = try decoder.next() {
                let message: Message
                do { message = try Message(body: body) } catch {
                    message = .error(code: .malformed, message: "the fake peer could not decode a message: \(error)")
                }
                inbox.withLockedValue { $0.append(message) }
            }
        } catch {
            inbox.withLockedValue { $0.append(.error(code: .malformed, message: "the fake peer could not decode a frame: \(error)")) }
        }
    }
}

@Suite(.serialized) struct FederationTests {
    @Test func concurrentAppendsAtAllFiveNodesConvergeToIdenticalRoots() throws {
        let federation = try LocalFederation()
        try federation.start()
        let perNode = 12
        let failures = NIOLockedValueBox<[String]>([])
        DispatchQueue.concurrentPerform(iterations: LocalFederation.all.count * 3) { i in
            let node = LocalFederation.all[i % LocalFederation.all.count]
            for k in 0..<(perNode / 3) {
                do { try federation.append(node, #"{"measure":"P2.A2.M1","worker":\#(i),"k":\#(k)}"#) } catch {
                    failures.withLockedValue { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLockedValue { $0 }.isEmpty, "\(failures.withLockedValue { $0 })")
        let heads = try federation.waitConverged(LocalFederation.all) { heads in
            LocalFederation.all.allSatisfy { federation.size(heads, $0) == perNode }
        }
        #expect(heads.count == 5)
        // Every node verified what it stored: no alerts anywhere.
        for node in LocalFederation.all {
            let alerts = try federation.get(node, "/v1/alerts")["alerts"] as! [[String: Any]]
            #expect(alerts.isEmpty, "\(node): \(alerts)")
            let peers = try federation.get(node, "/v1/peers")["peers"] as! [[String: Any]]
            #expect(peers.count == 4 && peers.allSatisfy { $0["connected"] as? Bool == true }, "\(node): \(peers)")
        }
        // `quartet status` asks a node for its peers and logs.
        let status = try TestKit.quartet(["status", "--config", federation.config("uk"), "--format", "json"])
        #expect(status.status == 0, "\(status.stderr)")
        let statusJSON = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect((statusJSON["peers"] as? [[String: Any]])?.filter { $0["connected"] as? Bool == true }.count == 4)
        let statusLogs = try #require(statusJSON["logs"] as? [[String: Any]])
        #expect(statusLogs.count == 5 && statusLogs.allSatisfy { $0["size"] as? Int == perNode && $0["behind"] as? Int == 0 }, "\(statusLogs)")
        let text = try TestKit.quartet(["status", "--config", federation.config("wales")])
        #expect(text.stdout.contains("england           connected since"), "\(text.stdout)")
        #expect(text.stdout.contains("wales             \(perNode) entries (own)"), "\(text.stdout)")
        // A replica serves proofs that check against the origin's checkpoint.
        let proof = try federation.get("uk", "/v1/logs/wales/proofs/inclusion?index=3")
        #expect(proof["size"] as? Int == perNode)
        let entries = try federation.get("scotland", "/v1/logs/wales/entries?from=0&limit=5")["entries"] as! [[String: Any]]
        #expect(entries.count == 5 && entries[3]["leaf_hash"] as? String == proof["leaf_hash"] as? String)
        federation.stop()
    }

    @Test func aNodeKilledMidStreamCatchesUpAndLosesNothingAcknowledged() throws {
        let federation = try LocalFederation()
        try federation.start()
        // england appends to its own log and receives wales' stream when it is killed.
        let acknowledged = NIOLockedValueBox<[UInt64: Int]>([:])
        let englandWriter = Thread {
            for i in 0..<200 {
                guard let index = try? federation.append("england", #"{"e":\#(i)}"#) else { return }
                acknowledged.withLockedValue { $0[index] = i }
            }
        }
        let walesWriter = Thread {
            for i in 0..<20 { _ = try? federation.append("wales", #"{"w":\#(i)}"#) }
        }
        englandWriter.start()
        walesWriter.start()
        usleep(400_000)
        #expect(federation.processes["england"]!.stop(signal: SIGKILL, timeout: 5) != nil)
        federation.processes["england"] = nil
        while !englandWriter.isFinished { usleep(20_000) }
        let acked = acknowledged.withLockedValue { $0 }
        #expect(!acked.isEmpty, "england acknowledged nothing before it was killed")
        for i in 0..<5 { _ = try federation.append("scotland", #"{"s":\#(i)}"#) }
        let down = try TestKit.quartet(["status", "--config", federation.config("uk")])
        #expect(down.stdout.contains("england           not connected"), "\(down.stdout)")
        let unreachable = try TestKit.quartet(["status", "--config", federation.config("england")])
        #expect(unreachable.status != 0 && unreachable.stderr.contains("cannot reach node england"), "\(unreachable.stderr)")
        while !walesWriter.isFinished { usleep(50_000) }
        // Restarted, england (which dials everyone) reconnects and catches up; the others get
        // whatever of england's log they missed.
        federation.processes["england"] = try NodeProcess(config: federation.config("england"))
        let heads = try federation.waitConverged(LocalFederation.all, timeout: 40) { heads in
            federation.size(heads, "wales") == 20 && federation.size(heads, "scotland") == 5 && federation.size(heads, "england") >= acked.count
        }
        // Every acknowledged append is there, with its payload, at england and at uk.
        let size = federation.size(heads, "england")
        for node in ["england", "uk"] {
            var found: [UInt64: Int] = [:]
            var from = 0
            while from < size {
                let page = try federation.get(node, "/v1/logs/england/entries?from=\(from)&limit=1000")["entries"] as! [[String: Any]]
                for entry in page {
                    if let payload = entry["payload"] as? [String: Any], let e = payload["e"] as? Int { found[UInt64(entry["index"] as! Int)] = e }
                }
                from += page.count
                if page.isEmpty { break }
            }
            for (index, i) in acked { #expect(found[index] == i, "\(node): acknowledged entry \(index) (\(i)) missing") }
        }
        let verify = try TestKit.quartet(["verify", "--data", federation.path("england", "data")])
        // The node holds the directory's lock; verify reads alongside it.
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        federation.stop()
    }

    /// A node whose API address is taken stops at once and says which address (it waited for
    /// ever, silent, ignoring SIGTERM: the peer listener did not end when the service group
    /// cancelled it).
    @Test func aNodeThatCannotListenStopsAtOnceSayingWhere() throws {
        let federation = try LocalFederation()
        let port = try #require(URLComponents(string: federation.api("wales"))?.port)
        let holder = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: port).wait()
        defer { try? holder.close().wait() }
        let timeout = try #require(TestKit.which("timeout"))
        let served = try TestKit.run(timeout, ["-s", "KILL", "30", try TestKit.quartetBinary().path, "serve", "--config", federation.config("wales"),
                                               "--peer-answers", "1"])
        #expect(served.status == 1 && served.stderr.contains("cannot listen on api.listen 127.0.0.1:\(port)"), "\(served.status) \(served.stderr.suffix(400))")
    }

    /// `token new` prints a configuration line: a name that is not one is refused (it made the
    /// line grant an operator token of the requester's choosing), and the line is JSON.
    @Test func tokenNewRefusesANameThatIsNotOneAndPrintsItsLineAsJSON() throws {
        let injected = try TestKit.quartet(["token", "new", "--role", "reader", "--name", #"eve", "role": "operator", "sha256": "00"}, {"name": "eve2"#])
        #expect(injected.status != 0 && injected.stderr.contains("--name must be a-z, 0-9 and '-'") && !injected.stdout.contains("operator"), "\(injected)")
        let made = try TestKit.quartet(["token", "new", "--role", "reader", "--name", "eve"])
        let line = try #require(made.stdout.split(separator: "\n").first { $0.hasPrefix("add to the node configuration's \"tokens\": ") })
        let grant = try JSONSerialization.jsonObject(with: Data(line.dropFirst("add to the node configuration's \"tokens\": ".count).utf8)) as? [String: String]
        #expect(grant?["name"] == "eve" && grant?["role"] == "reader" && grant?["sha256"]?.count == 64, "\(made.stdout)")
    }

    @Test func onlyTheOperatorOfANodesOwnLogMayAppendThere() throws {
        let federation = try LocalFederation()
        try federation.start(["wales"], onlyCopy: true)
        let url = "\(federation.api("wales"))/v1/logs/wales/entries"
        let body = #"{"type":"test.note","payload":{"v":1}}"#
        let pki = federation.root.appendingPathComponent("pki")
        let attempts: [(String, String, String, Int)] = [
            ("reader", federation.reader.certificate, federation.reader.key, 403),
            ("node wales", pki.appendingPathComponent("wales/wales.pem").path, pki.appendingPathComponent("wales/wales.key").path, 403),
            ("operator of england", federation.path("england", "operator_certificate"), federation.path("england", "operator_key"), 403),
        ]
        for (who, certificate, key, expected) in attempts {
            let result = try federation.curl(["--cert", certificate, "--key", key, "-H", "content-type: application/json", "-d", body, url])
            #expect(result.status == expected, "\(who): \(result)")
            #expect(result.body.contains("operator"), "\(who): \(result.body)")
        }
        let anonymous = try federation.curl(["-H", "content-type: application/json", "-d", body, url])
        #expect(anonymous.status == 401)
        // The operator of wales may not append to another node's log through wales.
        let elsewhere = try federation.curl(["--cert", federation.path("wales", "operator_certificate"), "--key", federation.path("wales", "operator_key"),
                                             "-H", "content-type: application/json", "-d", body, "\(federation.api("wales"))/v1/logs/england/entries"])
        #expect(elsewhere.status == 403 && elsewhere.body.contains("written by node england"), "\(elsewhere)")
        // Bad bodies name what is wrong.
        let noPayload = try federation.curl(["--cert", federation.path("wales", "operator_certificate"), "--key", federation.path("wales", "operator_key"),
                                             "-H", "content-type: application/json", "-d", #"{"type":"x"}"#, url])
        #expect(noPayload.status == 400 && noPayload.body.contains("payload"), "\(noPayload)")
        #expect(try federation.append("wales", #"{"v":2}"#) == 0)
        #expect(federation.size(try federation.heads("wales"), "wales") == 1)
        federation.stop()
    }

    @Test func aCutLinkStillConvergesThroughRelaysAndHealsWhenRestored() throws {
        let federation = try LocalFederation()
        // Each of uk and wales gets a copy of the federation file that points the other at a
        // port where nothing listens, so they cannot reach each other directly (both dial each
        // other at start; uk redials).
        let layout = FederationLayout(root: federation.root)
        let original = try ProvisionedFile.read(FederationFile.self, from: layout.federationFile)
        var configs: [String: NodeConfigurationFile] = [:]
        for (node, other) in [("uk", "wales"), ("wales", "uk")] {
            var cut = original
            let index = try #require(cut.nodes.firstIndex { $0.id == other })
            cut.nodes[index].peer = "127.0.0.1:\(try TestKit.freePort())"
            // A change is a new version, signed by a quorum (here every member).
            cut.version = original.version + 1
            try federation.writeSigned(cut, to: "\(layout.nodeDirectory(node))/federation-cut.json")
            configs[node] = try ProvisionedFile.read(NodeConfigurationFile.self, from: federation.config(node))
            var config = configs[node]!
            #expect(config.federation == "../federation.json")
            config.federation = "federation-cut.json"
            try ProvisionedFile.write(config, to: federation.config(node))
        }
        try federation.start()
        for i in 0..<6 { try federation.append("wales", #"{"relay":\#(i)}"#) }
        _ = try federation.waitConverged(LocalFederation.all) { federation.size($0, "wales") == 6 }
        let ukPeers = try federation.get("uk", "/v1/peers")["peers"] as! [[String: Any]]
        #expect(ukPeers.first { $0["node"] as? String == "wales" }?["connected"] as? Bool == false, "\(ukPeers)")
        // Restore the link: uk restarts with the real federation file and reaches wales. uk has
        // accepted the cut file's version, so going back is a newer version again.
        _ = federation.processes["uk"]!.stop()
        var restored = original
        restored.version = original.version + 2
        try federation.writeSigned(restored, to: layout.federationFile)
        try ProvisionedFile.write(configs["uk"]!, to: federation.config("uk"))
        federation.processes["uk"] = try NodeProcess(config: federation.config("uk"))
        try federation.append("wales", #"{"relay":6}"#)
        _ = try federation.waitConverged(LocalFederation.all) { federation.size($0, "wales") == 7 }
        let deadline = Date().addingTimeInterval(15)
        var connected = false
        while !connected && Date() < deadline {
            let peers = try federation.get("uk", "/v1/peers")["peers"] as! [[String: Any]]
            connected = peers.first { $0["node"] as? String == "wales" }?["connected"] as? Bool == true
            if !connected { usleep(200_000) }
        }
        #expect(connected)
        federation.stop()
    }

    @Test func forgedBatchesEquivocationAndBadFramesAreCaughtAndOnlyTheirConnectionSuffers() async throws {
        let federation = try LocalFederation()
        try federation.start(["uk", "wales"], onePeerAnswers: true)
        let ukPort = Int(federation.path("uk", "peer").split(separator: ":").last!)!
        _ = try federation.waitConverged(["uk", "wales"])

        // England's certificate and key, but not the england node: a peer under test control.
        let peer = try await FakePeer(as: "england", to: "uk", port: ukPort, federation: federation,
                                      hello: .hello(version: ProtocolLimits.version, node: "england", federation: "uk-ot-workforce"))
        _ = try peer.wait { if case .hello = $0 { return true }; return false }
        _ = try peer.wait { if case .heads = $0 { return true }; return false }

        // 1. A batch of scotland's log signed by a key that is not scotland's.
        let stranger = try NoteSigner(name: "quartet.ot-workforce.uk/scotland", key: try Ed25519PrivateKey())
        let fakeEntry = try Entry(log: "scotland", index: 0, timeMillis: 1, type: "t", classification: "public", author: "x",
                                  payload: Array("{}".utf8), salt: [UInt8](repeating: 1, count: 32))
        let forgedNote = try stranger.sign(Checkpoint(origin: "quartet.ot-workforce.uk/scotland", size: 1, root: fakeEntry.leafHash, timeMillis: 1)).serialized
        peer.send(.entries(Batch(log: "scotland", from: 0, note: forgedNote, entries: [WireEntry(fakeEntry)])))

        // 2. England's real key signs two different histories of size 1.
        let englandData = DataDirectory(path: federation.path("england", "data"))
        let signer = try NoteSigner(name: "quartet.ot-workforce.uk/england", key: try englandData.readSigningKey(log: "england"))
        func entry(_ text: String) throws -> Entry {
            try Entry(log: "england", index: 0, timeMillis: 2, type: "progress.reading", classification: "public", author: "england",
                      payload: Array(text.utf8), salt: [UInt8](repeating: 2, count: 32))
        }
        let honest = try entry(#"{"v":1}"#), other = try entry(#"{"v":2}"#)
        let honestNote = try signer.sign(Checkpoint(origin: "quartet.ot-workforce.uk/england", size: 1, root: honest.leafHash, timeMillis: 2)).serialized
        let otherNote = try signer.sign(Checkpoint(origin: "quartet.ot-workforce.uk/england", size: 1, root: other.leafHash, timeMillis: 3)).serialized
        peer.send(.entries(Batch(log: "england", from: 0, note: honestNote, entries: [WireEntry(honest)])))
        // uk stores it and relays it to wales; then the other history arrives.
        _ = try federation.waitConverged(["uk", "wales"]) { federation.size($0, "england") == 1 }
        peer.send(.heads([.init(log: "england", note: otherNote)]))

        var ukAlerts: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            ukAlerts = try federation.get("uk", "/v1/alerts")
            if (ukAlerts["quarantined"] as! [[String: Any]]).count == 1 { break }
            usleep(100_000)
        }
        let alerts = ukAlerts["alerts"] as! [[String: Any]]
        #expect(alerts.contains { $0["kind"] as? String == "rejected" && $0["peer"] as? String == "england" && ($0["message"] as? String ?? "").contains("does not verify") },
                "\(alerts)")
        #expect(alerts.contains { $0["kind"] as? String == "equivocation" && $0["log"] as? String == "england" }, "\(alerts)")
        #expect((ukAlerts["quarantined"] as! [[String: Any]]).first?["log"] as? String == "england")
        // Nothing of the forged batch was stored.
        #expect(federation.size(try federation.heads("uk"), "scotland") == 0)
        // The evidence was passed on: wales verified it and quarantined england's log too.
        var walesQuarantined: [[String: Any]] = []
        for _ in 0..<50 where walesQuarantined.isEmpty {
            walesQuarantined = try federation.get("wales", "/v1/alerts")["quarantined"] as! [[String: Any]]
            if walesQuarantined.isEmpty { usleep(100_000) }
        }
        #expect(walesQuarantined.first?["log"] as? String == "england")
        let walesLogs = try federation.get("wales", "/v1/logs")["logs"] as! [[String: Any]]
        #expect(walesLogs.first { $0["log"] as? String == "england" }?["quarantined"] as? Bool == true)
        // And the metrics say so.
        let metrics = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("uk"))/metrics"])
        #expect(metrics.status == 200)
        #expect(metricValue(metrics.body, #"quartet_log_quarantined{log="england"}"#) == 1, "\(metrics.body)")
        #expect(metricValue(metrics.body, #"quartet_alerts_total{kind="equivocation"}"#) == 1, "\(metrics.body)")
        #expect(metricValue(metrics.body, #"quartet_peer_connected{peer="wales"}"#) == 1, "\(metrics.body)")
        #expect(metricValue(metrics.body, #"quartet_log_quarantined{log="wales"}"#) == 0, "\(metrics.body)")
        #expect(metricValue(metrics.body, #"quartet_log_disowned{log="england"}"#) == 0, "\(metrics.body)")

        // 3. A malformed frame (and an oversized one) closes only that connection.
        let rogue = try await FakePeer(as: "northern-ireland", to: "uk", port: ukPort, federation: federation,
                                       hello: .hello(version: ProtocolLimits.version, node: "northern-ireland", federation: "uk-ot-workforce"))
        _ = try rogue.wait { if case .heads = $0 { return true }; return false }
        rogue.send(raw: [0, 0, 0, 3, 42, 1, 2])
        let error = try rogue.wait { if case .error = $0 { return true }; return false }
        #expect(error == .error(code: .malformed, message: "unknown message type 42"))
        let closeDeadline = Date().addingTimeInterval(5)
        while !rogue.isClosed && Date() < closeDeadline { usleep(20_000) }
        #expect(rogue.isClosed)
        let huge = try await FakePeer(as: "scotland", to: "uk", port: ukPort, federation: federation,
                                      hello: .hello(version: ProtocolLimits.version, node: "scotland", federation: "uk-ot-workforce"))
        _ = try huge.wait { if case .heads = $0 { return true }; return false }
        huge.send(raw: [0x7F, 0xFF, 0xFF, 0xFF, 1])
        _ = try huge.wait { if case .error(.malformed, let text) = $0 { return text.contains("exceeds the limit") }; return false }
        // uk still talks to wales, and to the england peer.
        let peers = try federation.get("uk", "/v1/peers")["peers"] as! [[String: Any]]
        #expect(peers.first { $0["node"] as? String == "wales" }?["connected"] as? Bool == true, "\(peers)")
        #expect(!peer.isClosed)
        // 4. Restarted, uk still lists england's quarantine, with an alert that says why (the
        //    evidence kept; not counted again).
        _ = federation.processes.removeValue(forKey: "uk")?.stop()
        try federation.start(["uk"], onePeerAnswers: true)
        let again = try federation.get("uk", "/v1/alerts")
        #expect((again["quarantined"] as? [[String: Any]])?.first?["log"] as? String == "england", "\(again)")
        #expect((again["alerts"] as? [[String: Any]] ?? []).contains { $0["kind"] as? String == "equivocation" && $0["log"] as? String == "england"
            && ($0["message"] as? String ?? "").contains("evidence kept from before this start") }, "\(again)")
        let counted = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("uk"))/metrics"])
        #expect(metricValue(counted.body, #"quartet_alerts_total{kind="equivocation"}"#) ?? 0 == 0, "\(counted.body)")
        federation.stop()
    }

    @Test func benchReplicationPrintsItsFiguresAsJSON() throws {
        let run = try TestKit.quartet(["bench", "replication", "--appends", "30", "--rate", "200", "--catchup-entries", "4000",
                                       "--restricted-half", "--rounds", "2"])
        #expect(run.status == 0, "\(run.stderr.suffix(2000))")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(result["rounds"] as? Int == 2)
        let propagation = try #require(result["propagation"] as? [String: Any])
        let latency = try #require(propagation["latency_ms"] as? [String: Any])
        #expect((latency["p50"] as? Double ?? -1) >= 0 && (latency["p99"] as? Double ?? -1) >= (latency["p50"] as? Double ?? 0))
        #expect(propagation["appends"] as? Int == 60, "every append of both rounds")
        let catchUp = try #require(result["catch_up"] as? [String: Any])
        #expect(catchUp["entries"] as? Int == 4000)
        #expect((catchUp["entries_per_second"] as? Double ?? 0) > 0 && (catchUp["uk_peak_rss_mb"] as? Double ?? 0) > 0)
        #expect((catchUp["rounds_entries_per_second"] as? [Double])?.count == 2)
        // The restricted runs: the agreements' entries (and disclosure records) on top.
        let policy = try #require(result["policy"] as? [String: Any])
        let restricted = try #require(policy["catch_up"] as? [String: Any])
        #expect((restricted["entries"] as? Int ?? 0) >= 4004, "\(restricted)")
        #expect(policy["catch_up_throughput_overhead"] is Double)
        let overhead = try #require(policy["propagation_overhead"] as? [String: Double])
        #expect(overhead["p50"] != nil && overhead["p99"] != nil)
    }
}

extension FederationTests {
    /// A modified node sends uk a payload no agreement lets uk hold: uk keeps only the stub and
    /// names the sender in a violation.
    @Test func aPayloadSentWithoutAnAgreementIsKeptAsAStubAndReported() async throws {
        let federation = try LocalFederation()
        try federation.start(["uk"], onlyCopy: true)
        defer { federation.stop() }
        let ukPort = Int(federation.path("uk", "peer").split(separator: ":").last!)!
        let peer = try await FakePeer(as: "england", to: "uk", port: ukPort, federation: federation,
                                      hello: .hello(version: ProtocolLimits.version, node: "england", federation: "uk-ot-workforce"))
        _ = try peer.wait { if case .heads = $0 { return true }; return false }
        // England's real key signs a batch holding a restricted row, payload included.
        let marker = "LEAK-\(UUID().uuidString)"
        let englandData = DataDirectory(path: federation.path("england", "data"))
        let signer = try NoteSigner(name: "quartet.ot-workforce.uk/england", key: try englandData.readSigningKey(log: "england"))
        let row = try Entry(log: "england", index: 0, timeMillis: 5, type: "dataset.rows", classification: "nhse.workforce.headcount", author: "england",
                            payload: Array(#"{"rows":[{"count":2,"note":"\#(marker)"}]}"#.utf8), salt: [UInt8](repeating: 7, count: 32))
        let note = try signer.sign(Checkpoint(origin: "quartet.ot-workforce.uk/england", size: 1, root: row.leafHash, timeMillis: 5)).serialized
        peer.send(.entries(Batch(log: "england", from: 0, note: note, entries: [WireEntry(row)])))

        var alerts: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            alerts = try federation.get("uk", "/v1/alerts")["alerts"] as! [[String: Any]]
            if alerts.contains(where: { $0["kind"] as? String == "violation" }) { break }
            usleep(100_000)
        }
        // A reader learns of it, not who sent which entries (a disclosure record's content:
        // finding 238); uk's operator does.
        let violation = try #require(alerts.first { $0["kind"] as? String == "violation" }, "\(alerts)")
        #expect((violation["peer"] == nil || violation["peer"] is NSNull) && violation["log"] as? String == "england" && !(violation["message"] as? String ?? "").contains("england sent"), "\(violation)")
        let asOperator = try federation.curl(["--cert", federation.path("uk", "operator_certificate"), "--key", federation.path("uk", "operator_key"), "\(federation.api("uk"))/v1/alerts"])
        let operatorAlerts = try #require((try JSONSerialization.jsonObject(with: Data(asOperator.body.utf8)) as? [String: Any])?["alerts"] as? [[String: Any]])
        let named = try #require(operatorAlerts.first { $0["kind"] as? String == "violation" }, "\(operatorAlerts)")
        #expect(named["peer"] as? String == "england" && (named["message"] as? String ?? "").contains("england sent the payload of england entry 0"), "\(named)")
        let view = try federation.get("uk", "/v1/view")
        #expect(!String(decoding: try JSONSerialization.data(withJSONObject: view), as: UTF8.self).contains("england sent"), "the view's log health names the sender")
        // The entry is held, as a stub: the log verifies and goes on.
        #expect(federation.size(try federation.heads("uk"), "england") == 1)
        let held = try #require((try federation.get("uk", "/v1/logs/england/entries")["entries"] as? [[String: Any]])?.first)
        #expect(held["payload"] is NSNull)
        federation.stop()
        let data = try #require(FileManager.default.enumerator(atPath: federation.path("uk", "data"))).compactMap { $0 as? String }
            .compactMap { FileManager.default.contents(atPath: (federation.path("uk", "data") as NSString).appendingPathComponent($0)) }
        #expect(!data.contains { $0.range(of: Data(marker.utf8)) != nil }, "the payload reached uk's disk")
    }
}

/// The value of one series in a Prometheus text exposition (`name{labels}` exactly as written).
func metricValue(_ exposition: String, _ series: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.dropFirst(series.count + 1))
    }
    return nil
}

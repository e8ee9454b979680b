import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetHarness
import QuartetNode
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

/// Four running nation processes with filled logs, and a uk that catches up from nothing; the
/// processes are `quartet serve` children of this one (QuartetHarness), so they end with it.
final class CatchUpFederation {
    let root: URL
    let layout: FederationLayout
    let nations: [String]
    let supervisor = ProcessSupervisor()
    var processes: [String: ChildProcess] = [:]
    var fillSeconds = 0.0
    var nationsSeconds = 0.0
    var ukData: URL { URL(fileURLWithPath: layout.dataDirectory("uk")) }
    var ukPristine: URL { root.appendingPathComponent("uk/data.pristine") }

    init(root: URL, nations: [String]) {
        self.root = root
        layout = FederationLayout(root: root)
        self.nations = nations
    }

    /// Where `name`'s errors go (`--log-level error`): a failure to catch up ends with its last lines.
    func logFile(_ name: String) -> String { root.appendingPathComponent("\(name).log").path }

    /// Starts `name` (its errors to `logFile`); returns at once, without waiting for it to listen.
    func launch(_ name: String) throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        processes[name] = try supervisor.start(ServeChild.settings(executable: executable, config: layout.configFile(name), arguments: ["--log-level", "error"],
                                                                   log: logFile(name)))
    }

    func client(_ name: String) throws -> APIClient {
        let configuration = try NodeConfiguration.load(path: layout.configFile(name))
        return try APIClient(certificate: configuration.certificate, key: configuration.privateKey, ca: configuration.caCertificate,
                             node: name, address: configuration.apiListen)
    }

    /// The sizes of the nation logs `name` holds (nil while it does not answer).
    func held(_ name: String, _ client: APIClient) async -> [String: Int]? {
        guard let (status, body) = try? await client.get("/v1/logs"), status == 200,
              let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let logs = object["logs"] as? [[String: Any]] else { return nil }
        var sizes: [String: Int] = [:]
        for log in logs { if let name = log["log"] as? String, nations.contains(name) { sizes[name] = log["size"] as? Int ?? 0 } }
        return sizes
    }

    /// Waits until `name` holds `total` entries of the nation logs.
    func waitHolding(_ name: String, atLeast total: Int, timeout: Duration) async throws {
        let client = try client(name)
        var count = 0
        let deadline = ContinuousClock.now + timeout
        while count < total {
            guard ContinuousClock.now < deadline, processes[name]!.isRunning else {
                throw CLIError("\(name) did not catch up (holds \(count) of \(total); \(processes[name]!.isRunning ? "running" : "exited"))\(ServeChild.tail(logFile(name)))")
            }
            try await Task.sleep(for: .milliseconds(50))
            count = (await held(name, client))?.values.reduce(0, +) ?? count
        }
    }

    /// One round: a fresh uk, timed from its start until it holds every entry the nations hold
    /// of their own logs now, verified and durable; its peak RSS from /proc.
    func catchUp() async throws -> CatchUpRun {
        // What the nations hold of their own logs (they grow a little: disclosure records).
        var total = 0
        for nation in nations {
            guard let size = (await held(nation, try client(nation)))?[nation] else {
                throw CLIError("\(nation) did not answer GET /v1/logs with its own log's size (is it running? \(processes[nation]?.isRunning == true ? "it is" : "it is not"))")
            }
            total += size
        }
        try? FileManager.default.removeItem(at: ukData)
        try FileManager.default.copyItem(at: ukPristine, to: ukData)
        let start = ContinuousClock.now
        try launch("uk")
        defer { processes["uk"]?.stop(signal: SIGKILL) }
        try await waitHolding("uk", atLeast: total, timeout: .seconds(600))
        let elapsed = (ContinuousClock.now - start).seconds
        let status = (try? String(contentsOfFile: "/proc/\(processes["uk"]!.pid)/status", encoding: .utf8)) ?? ""
        let peakKiB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
        processes["uk"]!.stop()
        return CatchUpRun(entries: total, logs: nations.count, fillSeconds: (fillSeconds * 10).rounded() / 10,
                          nationsReplicatedEachOtherSeconds: (nationsSeconds * 10).rounded() / 10,
                          seconds: threeDecimals(elapsed), entriesPerSecond: (Double(total) / elapsed).rounded(),
                          ukPeakRssMb: (Double(peakKiB) / 1024 * 10).rounded() / 10)
    }

    /// Stops every process and removes the directory.
    func stop() {
        supervisor.stopAll()
        try? FileManager.default.removeItem(at: root)
    }
}

/// The five nodes in this process for the latency runs; uk tells when each batch of wales's
/// log is durable there.
final class LatencyFederation {
    let bench: BenchReplication
    let root: URL
    let wales: Node
    let mesh: NodeMesh
    let durable = NIOLockedValueBox<[(size: UInt64, at: ContinuousClock.Instant)]>([])

    init(bench: BenchReplication, agreement: Bool) async throws {
        self.bench = bench
        root = try bench.makeFederation()
        var quiet = Logger(label: "bench")
        quiet.logLevel = .error
        var nodes: [String: Node] = [:]
        let durable = self.durable
        do {
            for (name, _) in demoMembers {
                let configuration = try NodeConfiguration.load(path: FederationLayout(root: root).configFile(name))
                let record: @Sendable (String, UInt64) -> Void = { log, size in
                    if log == "wales" { durable.withLockedValue { $0.append((size: size, at: ContinuousClock.now)) } }
                }
                nodes[name] = try Node(configuration: configuration, logger: quiet, onStored: name == "uk" ? record : nil)
            }
            mesh = try await runMesh(nodes)
        } catch {
            try? FileManager.default.removeItem(at: root)
            throw error
        }
        wales = nodes["wales"]!
        do {
            if agreement { _ = try await wales.append(try bench.benchAgreement(root: root, holder: "wales")) }
            // Warm-up.
            for i in 0..<20 { _ = try await wales.append(AppendRequest(type: "progress.reading", author: "bench", payload: benchPayload(i))) }
            try await Task.sleep(for: .milliseconds(300))
        } catch {
            await stop()
            throw error
        }
    }

    /// One round: each append's time from its acknowledgement at wales until uk holds it, in ms.
    func round(restricted: Bool) async throws -> [Double] {
        var acknowledged: [(index: UInt64, at: ContinuousClock.Instant)] = []
        let interval = Duration.nanoseconds(1_000_000_000 / bench.rate)
        let start = ContinuousClock.now
        for i in 0..<bench.appends {
            let slot = start + interval * i
            if ContinuousClock.now < slot { try await Task.sleep(until: slot, clock: .continuous) }
            let receipt = try await wales.append(bench.benchRequest(i, restricted: restricted))
            acknowledged.append((receipt.index, ContinuousClock.now))
        }
        let last = acknowledged.last!.index
        let deadline = ContinuousClock.now + .seconds(30)
        while (durable.withLockedValue { $0.last?.size ?? 0 }) <= last {
            guard ContinuousClock.now < deadline else { throw CLIError("uk did not receive every entry within 30 s") }
            try await Task.sleep(for: .milliseconds(10))
        }
        let stored = durable.withLockedValue { $0 }
        // A pause between rounds, so one round's tail does not run into the next.
        try await Task.sleep(for: .milliseconds(200))
        return acknowledged.compactMap { index, ack in
            // At 0 when uk stored it before the appending task resumed after wales's commit.
            stored.first(where: { $0.size > index }).map { max(0, ($0.at - ack).milliseconds) }
        }
    }

    func stop() async {
        await mesh.stop()
        try? FileManager.default.removeItem(at: root)
    }
}

/// Nodes run in this process (benchmarks): stopped as SIGTERM stops `quartet serve`
/// (`NodeShutdown`), not by cancelling their tasks, which cuts Hummingbird's server off before
/// its graceful shutdown and leaves it logging "Server shutdown error: Already closed".
struct NodeMesh: Sendable {
    let tasks: [Task<Void, any Error>]
    let shutdowns: [NodeShutdown]

    /// Asks every node to stop and waits for them (their graceful stop is bounded by the
    /// node's own limit, 20 s); a node still running after `limit` is cancelled.
    func stop(limit: Duration = .seconds(30)) async {
        for shutdown in shutdowns { await shutdown.trigger() }
        let tasks = self.tasks
        let watchdog = Task {
            try await Task.sleep(for: limit)
            for task in tasks { task.cancel() }
        }
        for task in tasks { _ = await task.result }
        watchdog.cancel()
    }
}

/// Runs in-process nodes (no signal handling; `NodeMesh.stop` stops them) and waits until
/// every node is connected to every other.
func runMesh(_ nodes: [String: Node]) async throws -> NodeMesh {
    let shutdowns = nodes.values.map { _ in NodeShutdown() }
    let mesh = NodeMesh(tasks: zip(nodes.values, shutdowns).map { node, shutdown in Task { try await node.run(handleSignals: false, shutdown: shutdown) } },
                        shutdowns: shutdowns)
    let deadline = ContinuousClock.now + .seconds(30)
    while nodes.values.contains(where: { $0.connectedPeers.count < nodes.count - 1 }) {
        guard ContinuousClock.now < deadline else {
            await mesh.stop()
            throw CLIError("the \(nodes.count) nodes did not connect within 30 s")
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    return mesh
}

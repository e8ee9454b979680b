import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetPolicy
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

struct BenchReplication: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replication",
        abstract: "A five-node federation on this machine: propagation latency wales → uk, and a fresh node's catch-up rate.",
        discussion: """
            Latency: the five nodes run in this process (each with its own data directory, TLS \
            listeners and peer connections over loopback); entries are appended at wales at \
            --rate per second and each is timed from its acknowledgement at wales (durable there) \
            to the moment the batch holding it is durable at uk. Catch-up: the four nation logs \
            are filled with --catchup-entries entries in all, the nations are started as \
            `quartet serve` processes, then a fresh uk process; timed from uk's start until it \
            holds every entry, verified and durable; uk's peak RSS is read from /proc.
            """)

    @Option(help: "Appends at wales in the latency run.") var appends: Int = 1000
    @Option(help: "Appends per second in the latency run.") var rate: Int = 100
    @Option(help: "Entries over the four nation logs in the catch-up run (0 skips it).") var catchupEntries: Int = 1_000_000
    @Flag(help: "Also run both with half of the entries restricted under agreements (uk full access, the other nations none), and report the overhead.")
    var restrictedHalf = false

    func run() async throws {
        guard appends > 0, rate > 0, catchupEntries >= 0 else { throw ValidationError("--appends and --rate must be positive") }
        var result: [String: Any] = ["benchmark": "replication", "cores": ProcessInfo.processInfo.activeProcessorCount, "nodes": 5]
        let propagation = try await latency(restricted: false)
        result["propagation"] = propagation
        let catchUp = catchupEntries > 0 ? try await catchUp(restricted: false) : nil
        if let catchUp { result["catch_up"] = catchUp }
        if restrictedHalf {
            // The same runs with every other entry restricted: egress and ingress decide per entry.
            let restrictedPropagation = try await latency(restricted: true)
            var policy: [String: Any] = ["restricted_fraction": 0.5, "propagation": restrictedPropagation]
            let base = (propagation["latency_ms"] as! [String: Double]), with = (restrictedPropagation["latency_ms"] as! [String: Double])
            policy["propagation_overhead"] = ["p50": ((with["p50"]! / base["p50"]! - 1) * 1000).rounded() / 1000,
                                              "p99": ((with["p99"]! / base["p99"]! - 1) * 1000).rounded() / 1000]
            if let catchUp {
                let restrictedCatchUp = try await self.catchUp(restricted: true)
                policy["catch_up"] = restrictedCatchUp
                let rate = restrictedCatchUp["entries_per_second"] as! Double, baseRate = catchUp["entries_per_second"] as! Double
                policy["catch_up_throughput_overhead"] = ((1 - rate / baseRate) * 1000).rounded() / 1000
            }
            policy["target"] = "overheads under 0.10"
            result["policy"] = policy
        }
        printJSON(result)
    }

    func makeFederation() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-bench-replication-\(UUID().uuidString)")
        let demo = try DemoCommand.parse(["--dir", root.path, "--no-start"])
        try demo.create(root)
        return root
    }

    // MARK: Propagation latency

    /// Signs and returns an `agreement.established` request for `holder`'s data under
    /// `bench.restricted`: uk full access, the other nations none.
    func benchAgreement(root: URL, holder: String) throws -> AppendRequest {
        let owner = demoAgreements.first { $0.holder == holder }!.owner
        let key = try Ed25519PrivateKey(pem: try String(contentsOf: root.appendingPathComponent("pki/owners/\(owner).pem"), encoding: .utf8))
        var recipients: [String: Access] = [:]
        for (name, _) in demoMembers where name != holder { recipients[name] = name == "uk" ? .full : Access.none }
        let agreement = Agreement(id: "\(owner)-BENCH", owner: owner, holder: holder, labels: ["bench.restricted"], recipients: recipients,
                                  purpose: "benchmark", validFrom: 0, validUntil: Timestamp.parse("2099-01-01T00:00:00Z")!, minCellSize: 5)
        let note = try NoteSigner(name: owner, key: key).sign(text: agreement.text)
        let payload = try JSONSerialization.data(withJSONObject: ["note": note.serialized])
        return AppendRequest(type: "agreement.established", author: "bench", payload: Array(payload))
    }

    /// Entry `i`: every other one restricted when `restricted`.
    func benchRequest(_ i: Int, restricted: Bool) -> AppendRequest {
        restricted && i % 2 == 1
            ? AppendRequest(type: "dataset.rows", classification: "bench.restricted", author: "bench", payload: benchPayload(i))
            : AppendRequest(type: "progress.reading", author: "bench", payload: benchPayload(i))
    }

    func latency(restricted: Bool) async throws -> [String: Any] {
        let root = try makeFederation()
        defer { try? FileManager.default.removeItem(at: root) }
        var quiet = Logger(label: "bench")
        quiet.logLevel = .error
        let durable = NIOLockedValueBox<[(size: UInt64, at: ContinuousClock.Instant)]>([])
        var nodes: [String: Node] = [:]
        for (name, _) in demoMembers {
            let configuration = try NodeConfiguration.load(path: root.appendingPathComponent("\(name)/\(name).json").path)
            let record: @Sendable (String, UInt64) -> Void = { log, size in
                if log == "wales" { durable.withLockedValue { $0.append((size: size, at: ContinuousClock.now)) } }
            }
            nodes[name] = try Node(configuration: configuration, logger: quiet, onStored: name == "uk" ? record : nil)
        }
        let tasks = try await runMesh(nodes)
        defer { for task in tasks { task.cancel() } }
        let wales = nodes["wales"]!
        if restricted { _ = try await wales.append(try benchAgreement(root: root, holder: "wales")) }
        // Warm-up.
        for i in 0..<20 { _ = try await wales.append(AppendRequest(type: "progress.reading", author: "bench", payload: benchPayload(i))) }
        try await Task.sleep(for: .milliseconds(300))
        var acknowledged: [(index: UInt64, at: ContinuousClock.Instant)] = []
        let interval = Duration.nanoseconds(1_000_000_000 / rate)
        let start = ContinuousClock.now
        for i in 0..<appends {
            let slot = start + interval * i
            if ContinuousClock.now < slot { try await Task.sleep(until: slot, clock: .continuous) }
            let receipt = try await wales.append(benchRequest(i, restricted: restricted))
            acknowledged.append((receipt.index, ContinuousClock.now))
        }
        let last = acknowledged.last!.index
        let deadline = ContinuousClock.now + .seconds(30)
        while (durable.withLockedValue { $0.last?.size ?? 0 }) <= last {
            guard ContinuousClock.now < deadline else { throw CLIError("uk did not receive every entry within 30 s") }
            try await Task.sleep(for: .milliseconds(10))
        }
        let stored = durable.withLockedValue { $0 }
        var latencies: [Double] = []
        var early = 0
        for (index, ack) in acknowledged {
            guard let arrival = stored.first(where: { $0.size > index }) else { continue }
            let ms = (arrival.at - ack).milliseconds
            if ms < 0 { early += 1 }
            latencies.append(max(0, ms))
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double { (latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] * 1000).rounded() / 1000 }
        return [
            "appends": appends, "rate_per_second": rate, "from": "acknowledged at wales", "to": "durable at uk",
            "latency_ms": ["p50": percentile(0.5), "p99": percentile(0.99), "max": (latencies.last! * 1000).rounded() / 1000],
            "durable_at_uk_before_wales_answered": early,
            "targets_ms": ["p50": 3, "p99": 10],
        ]
    }

    // MARK: Catch-up

    func catchUp(restricted: Bool) async throws -> [String: Any] {
        let root = try makeFederation()
        defer { try? FileManager.default.removeItem(at: root) }
        let nations = demoMembers.map(\.id).filter { $0 != "uk" }
        let perLog = catchupEntries / nations.count
        let fillStart = ContinuousClock.now
        for nation in nations {
            let store = try LedgerStore.open(DataDirectory(path: root.appendingPathComponent("\(nation)/data").path), mode: .writer)
            let writer = try LogWriter(store: store, log: nation)
            if restricted { _ = try await writer.append(try benchAgreement(root: root, holder: nation)) }
            let requests = (0..<998).map { benchRequest($0, restricted: restricted) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<64 {
                    group.addTask {
                        var i = w
                        while i < perLog {
                            _ = try await writer.append(requests[i % requests.count])
                            i += 64
                        }
                    }
                }
                try await group.waitForAll()
            }
            try store.close()
        }
        let fillSeconds = (ContinuousClock.now - fillStart).seconds
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var processes: [String: Process] = [:]
        defer {
            for process in processes.values where process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        func launch(_ name: String) throws {
            let process = Process()
            process.executableURL = executable
            process.arguments = ["serve", "--config", root.appendingPathComponent("\(name)/\(name).json").path, "--log-level", "error"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            processes[name] = process
        }
        let total = (perLog + (restricted ? 1 : 0)) * nations.count
        func client(_ name: String) throws -> APIClient {
            let configuration = try NodeConfiguration.load(path: root.appendingPathComponent("\(name)/\(name).json").path)
            return try APIClient(certificate: configuration.certificate, key: configuration.privateKey, ca: configuration.caCertificate,
                                 node: name, address: configuration.apiListen)
        }
        /// Waits until `name` holds every entry of the nation logs.
        func waitHolding(_ name: String, _ client: APIClient, timeout: Duration) async throws {
            var held = 0
            let deadline = ContinuousClock.now + timeout
            while held < total {
                guard ContinuousClock.now < deadline, processes[name]!.isRunning else { throw CLIError("\(name) did not catch up (holds \(held) of \(total))") }
                try await Task.sleep(for: .milliseconds(50))
                guard let (status, body) = try? await client.get("/v1/logs"), status == 200,
                      let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                      let logs = object["logs"] as? [[String: Any]] else { continue }
                held = logs.filter { nations.contains($0["log"] as? String ?? "") }.reduce(0) { $0 + ($1["size"] as? Int ?? 0) }
            }
        }
        // The nations first replicate each other's logs, as a running federation would have.
        let nationsStart = ContinuousClock.now
        for nation in nations { try launch(nation) }
        for nation in nations { try await waitHolding(nation, try client(nation), timeout: .seconds(900)) }
        let nationsSeconds = (ContinuousClock.now - nationsStart).seconds
        let ukClient = try client("uk")
        let start = ContinuousClock.now
        try launch("uk")
        try await waitHolding("uk", ukClient, timeout: .seconds(600))
        let elapsed = (ContinuousClock.now - start).seconds
        let status = (try? String(contentsOfFile: "/proc/\(processes["uk"]!.processIdentifier)/status", encoding: .utf8)) ?? ""
        let peakKiB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
        for process in processes.values { kill(process.processIdentifier, SIGTERM) }
        for process in processes.values { process.waitUntilExit() }
        return [
            "entries": total, "logs": nations.count, "fill_seconds": (fillSeconds * 10).rounded() / 10,
            "nations_replicated_each_other_seconds": (nationsSeconds * 10).rounded() / 10,
            "seconds": (elapsed * 1000).rounded() / 1000, "entries_per_second": (Double(total) / elapsed).rounded(),
            "uk_peak_rss_mb": (Double(peakKiB) / 1024 * 10).rounded() / 10,
            "targets": ["entries_per_second": 100_000, "peak_rss_mb": 200],
        ]
    }
}

/// Runs in-process nodes (no signal handling; cancel the tasks to stop them) and waits until
/// every node is connected to every other.
func runMesh(_ nodes: [String: Node]) async throws -> [Task<Void, any Error>] {
    let tasks = nodes.values.map { node in Task { try await node.run(handleSignals: false) } }
    let deadline = ContinuousClock.now + .seconds(30)
    while nodes.values.contains(where: { $0.connectedPeers.count < nodes.count - 1 }) {
        guard ContinuousClock.now < deadline else {
            for task in tasks { task.cancel() }
            throw CLIError("the \(nodes.count) nodes did not connect within 30 s")
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    return tasks
}

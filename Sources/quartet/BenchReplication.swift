import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetCrypto
import QuartetHarness
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
    @Option(help: "Rounds of each run; with --restricted-half the plain and restricted runs alternate (default 1, or 5 with --restricted-half).")
    var rounds: Int?

    func run() async throws {
        guard appends > 0, rate > 0, catchupEntries >= 0 else { throw ValidationError("--appends and --rate must be positive") }
        let rounds = self.rounds ?? (restrictedHalf ? 5 : 1)
        guard rounds > 0 else { throw ValidationError("--rounds must be positive") }
        let modes = restrictedHalf ? [false, true] : [false]
        var result: [String: Any] = ["benchmark": "replication", "cores": ProcessInfo.processInfo.activeProcessorCount, "nodes": 5, "rounds": rounds]

        // Latency: one in-process federation for every round (with --restricted-half, wales's
        // agreement is in force from the start; plain rounds append public entries only, which
        // egress and ingress pass without consulting the agreements), kinds alternating round
        // by round on the same nodes; percentiles over every append of every round of a kind.
        let federation = try await LatencyFederation(bench: self, agreement: restrictedHalf)
        var latencies: [Bool: [[Double]]] = [:]
        do {
            for _ in 0..<rounds {
                for restricted in modes { latencies[restricted, default: []].append(try await federation.round(restricted: restricted)) }
            }
        } catch {
            federation.stop()
            throw error
        }
        federation.stop()
        let propagation = latencies.mapValues(latencyReport)
        result["propagation"] = propagation[false]!

        // Catch-up: each mode's nations are filled and started once; each round starts a fresh
        // uk (its data directory as it was before its first start); modes alternate.
        var catchUps: [Bool: [[String: Any]]] = [:]
        if catchupEntries > 0 {
            var federations: [Bool: CatchUpFederation] = [:]
            defer { for federation in federations.values { federation.stop() } }
            for restricted in modes { federations[restricted] = try await prepareCatchUp(restricted: restricted) }
            for _ in 0..<rounds {
                for restricted in modes { catchUps[restricted, default: []].append(try await federations[restricted]!.catchUp()) }
            }
            result["catch_up"] = catchUpReport(catchUps[false]!)
        }
        if restrictedHalf {
            var policy: [String: Any] = ["restricted_fraction": 0.5, "propagation": propagation[true]!]
            let base = propagation[false]!["latency_ms"] as! [String: Double], with = propagation[true]!["latency_ms"] as! [String: Double]
            // Latency added, as a fraction of the plain latency.
            policy["propagation_overhead"] = ["p50": rounded(with["p50"]! / base["p50"]! - 1), "p99": rounded(with["p99"]! / base["p99"]! - 1)]
            if let plain = catchUps[false], let restricted = catchUps[true] {
                let report = catchUpReport(restricted)
                policy["catch_up"] = report
                let rate = report["entries_per_second"] as! Double, baseRate = catchUpReport(plain)["entries_per_second"] as! Double
                // Throughput lost, as a fraction of the plain rate.
                policy["catch_up_throughput_overhead"] = rounded(1 - rate / baseRate)
            }
            policy["target"] = "overheads under 0.10"
            result["policy"] = policy
        }
        printJSON(result)
    }

    /// A fraction to three decimals.
    func rounded(_ fraction: Double) -> Double { (fraction * 1000).rounded() / 1000 }

    /// Percentiles over every append of every round, and each round's p50 and p99.
    func latencyReport(_ rounds: [[Double]]) -> [String: Any] {
        func percentile(_ sorted: [Double], _ p: Double) -> Double { (sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000).rounded() / 1000 }
        let latencies = rounds.flatMap { $0 }.sorted()
        return [
            "appends": latencies.count, "rate_per_second": rate, "from": "acknowledged at wales", "to": "durable at uk",
            "latency_ms": ["p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99), "max": (latencies.last! * 1000).rounded() / 1000],
            "rounds_ms": rounds.map { round in
                let sorted = round.sorted()
                return ["p50": percentile(sorted, 0.5), "p99": percentile(sorted, 0.99)]
            },
            "targets_ms": ["p50": 3, "p99": 10],
        ]
    }

    /// The median round's figures (with an even number of rounds, the slower middle round's,
    /// and the rate the mean of the middle two), and every round's rate.
    func catchUpReport(_ runs: [[String: Any]]) -> [String: Any] {
        let sorted = runs.sorted { ($0["entries_per_second"] as! Double) < ($1["entries_per_second"] as! Double) }
        var report = sorted[(sorted.count - 1) / 2]
        if sorted.count % 2 == 0 {
            let middle = (sorted[sorted.count / 2 - 1]["entries_per_second"] as! Double) + (sorted[sorted.count / 2]["entries_per_second"] as! Double)
            report["entries_per_second"] = (middle / 2).rounded()
        }
        report["rounds_entries_per_second"] = runs.map { $0["entries_per_second"] as! Double }
        report["uk_peak_rss_mb"] = runs.map { $0["uk_peak_rss_mb"] as! Double }.max()!
        return report
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

    // MARK: Catch-up

    /// Fills the four nation logs, starts the nations as `quartet serve` processes and waits
    /// until they hold each other's logs, as a running federation would.
    func prepareCatchUp(restricted: Bool) async throws -> CatchUpFederation {
        let root = try makeFederation()
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
        let federation = CatchUpFederation(root: root, nations: nations)
        federation.fillSeconds = (ContinuousClock.now - fillStart).seconds
        do {
            // uk's data directory as created (keys, an empty store), for a fresh start each round.
            try FileManager.default.copyItem(at: federation.ukData, to: federation.ukPristine)
            let start = ContinuousClock.now
            for nation in nations { try federation.launch(nation) }
            let total = (perLog + (restricted ? 1 : 0)) * nations.count
            for nation in nations { try await federation.waitHolding(nation, atLeast: total, timeout: .seconds(900)) }
            federation.nationsSeconds = (ContinuousClock.now - start).seconds
        } catch {
            federation.stop()
            throw error
        }
        return federation
    }
}

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

    /// Starts `name` (its output discarded); returns at once, without waiting for it to listen.
    func launch(_ name: String) throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        processes[name] = try supervisor.start(ServeChild.settings(executable: executable, config: layout.configFile(name), arguments: ["--log-level", "error"]))
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
            guard ContinuousClock.now < deadline, processes[name]!.isRunning else { throw CLIError("\(name) did not catch up (holds \(count) of \(total))") }
            try await Task.sleep(for: .milliseconds(50))
            count = (await held(name, client))?.values.reduce(0, +) ?? count
        }
    }

    /// One round: a fresh uk, timed from its start until it holds every entry the nations hold
    /// of their own logs now, verified and durable; its peak RSS from /proc.
    func catchUp() async throws -> [String: Any] {
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
        return [
            "entries": total, "logs": nations.count, "fill_seconds": (fillSeconds * 10).rounded() / 10,
            "nations_replicated_each_other_seconds": (nationsSeconds * 10).rounded() / 10,
            "seconds": (elapsed * 1000).rounded() / 1000, "entries_per_second": (Double(total) / elapsed).rounded(),
            "uk_peak_rss_mb": (Double(peakKiB) / 1024 * 10).rounded() / 10,
            "targets": ["entries_per_second": 100_000, "peak_rss_mb": 200],
        ]
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
    let tasks: [Task<Void, any Error>]
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
            tasks = try await runMesh(nodes)
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
            stop()
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

    func stop() {
        for task in tasks { task.cancel() }
        try? FileManager.default.removeItem(at: root)
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

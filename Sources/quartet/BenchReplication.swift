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
            await federation.stop()
            throw error
        }
        await federation.stop()
        let propagation = latencies.mapValues(latencyReport)
        var result = Report(cores: ProcessInfo.processInfo.activeProcessorCount, rounds: rounds, propagation: propagation[false]!)

        // Catch-up: each mode's nations are filled and started once; each round starts a fresh
        // uk (its data directory as it was before its first start); modes alternate.
        var catchUps: [Bool: [CatchUpRun]] = [:]
        if catchupEntries > 0 {
            var federations: [Bool: CatchUpFederation] = [:]
            defer { for federation in federations.values { federation.stop() } }
            for restricted in modes { federations[restricted] = try await prepareCatchUp(restricted: restricted) }
            for _ in 0..<rounds {
                for restricted in modes { catchUps[restricted, default: []].append(try await federations[restricted]!.catchUp()) }
            }
            result.catchUp = CatchUpRun.median(of: catchUps[false]!)
        }
        if restrictedHalf {
            let base = propagation[false]!.latencyMs, with = propagation[true]!.latencyMs
            var policy = PolicyReport(propagation: propagation[true]!,
                                      // Latency added, as a fraction of the plain latency.
                                      propagationOverhead: Latency(p50: threeDecimals(with.p50 / base.p50 - 1), p99: threeDecimals(with.p99 / base.p99 - 1)))
            if let plain = catchUps[false], let restricted = catchUps[true] {
                let report = CatchUpRun.median(of: restricted)
                policy.catchUp = report
                // Throughput lost, as a fraction of the plain rate.
                policy.catchUpThroughputOverhead = threeDecimals(1 - report.entriesPerSecond / CatchUpRun.median(of: plain).entriesPerSecond)
            }
            result.policy = policy
        }
        printJSON(result, snakeCaseKeys: true)
    }

    /// Percentiles over every append of every round, and each round's p50 and p99.
    func latencyReport(_ rounds: [[Double]]) -> Propagation {
        let all = Samples(rounds.flatMap { $0 })
        func figure(_ samples: Samples, _ p: Double) -> Double { threeDecimals(samples.percentile(p)!) }
        return Propagation(appends: all.count, ratePerSecond: rate,
                           latencyMs: Latency(p50: figure(all, 0.5), p99: figure(all, 0.99), max: figure(all, 1)),
                           roundsMs: rounds.map { round in
                               let samples = Samples(round)
                               return Latency(p50: figure(samples, 0.5), p99: figure(samples, 0.99))
                           })
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

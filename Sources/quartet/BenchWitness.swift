import ArgumentParser
import Foundation
import NIOHTTP1
import QuartetAPI
import QuartetHarness
import QuartetLedger
import QuartetNode

/// Witnessing on the running demo federation: how long a checkpoint waits for a quorum of
/// cosignatures, and how many add-checkpoint requests one witness answers per second.
struct BenchWitness: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "Time from a checkpoint being signed to a quorum of witnesses cosigning it, and witness requests/s (the demo federation, HTTPS).",
        discussion: """
            Starts `quartet demo` (five `quartet serve` processes on loopback, seeded), then appends \
            --appends entries one at a time at wales through its API, --gap-ms apart, and reads from \
            wales (GET /v1/witnesses) the milliseconds from each checkpoint's signing (the moment wales \
            signed it, on the monotonic clock) to the moment the third of its four witnesses' cosignatures was verified \
            and kept: p50 and p99 over the checkpoints of the run that reached a quorum. Then drives \
            uk's POST /witness/add-checkpoint as wales's node (its certificate: a member's lanes, \
            --clients keep-alive connections, one lane fewer than a member has) with wales's newest \
            checkpoint: each request is parsed, its log signature and the witness state checked \
            and a cosignature signed. Also each entry's time from its checkpoint's signing to the \
            first quorum on a checkpoint that covers it, and the CPU each node used per append \
            while appending (/proc).
            """)

    @Option(help: "Entries appended, one at a time.") var appends: Int = 300
    @Option(help: "Milliseconds between appends.") var gapMs: Int = 20
    /// One of wales's lanes at uk is left to wales's own witnessing (its collector has one
    /// request out to uk at a time).
    static let maxClients = WitnessLanes.member.inFlight - 1
    @Option(help: "Keep-alive connections for the requests/s run (at most one fewer than a member's lanes at a witness: one is left to its own witnessing).") var clients: Int = BenchWitness.maxClients
    @Option(help: "Seconds of the requests/s run.") var seconds: Int = 10

    func run() async throws {
        guard (1...100_000).contains(appends), (0...10_000).contains(gapMs), (1...Self.maxClients).contains(clients), (1...600).contains(seconds) else {
            throw ValidationError("--appends 1–100,000, --gap-ms 0–10,000, --clients 1–\(Self.maxClients) (a member's lanes at a witness, one left to its own witnessing), --seconds 1–600")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-bench-witness-\(UUID().uuidString)")
        let federation = try await DemoFederation.start(root: root)
        var report: [String: Any] = ["benchmark": "witness", "cores": ProcessInfo.processInfo.activeProcessorCount, "appends": appends, "gap_ms": gapMs]
        do {
            let wales = try federation.node("wales")
            let configuration = try NodeConfiguration.load(path: wales.config)
            // One kept-alive connection, as an operator's script would append (a TLS handshake
            // per append would add its CPU to every round).
            let operatorClient = try await KeepAliveClient.connect(certificate: nil, key: nil, ca: configuration.caCertificate, node: "wales",
                                                                   address: configuration.apiListen, token: try federation.operatorToken("wales"))
            let reader = try federation.client("wales")
            let before = try await federation.logSize("wales", at: "wales")
            let body = Data(#"{"type":"test.note","payload":{"bench":"witness"}}"#.utf8)
            // Each entry's index and when the checkpoint that first held it was signed.
            var entries: [(index: UInt64, time: UInt64)] = []
            // The nodes' CPU over the appends (all of it: an append's replication, witnessing
            // and view folds at every node), from /proc.
            let pids = (federation.demo?.nodes ?? []).compactMap { node in node.pid.map { (node.name, $0) } }
            let cpuBefore = Dictionary(uniqueKeysWithValues: pids.map { ($0.0, Self.cpuSeconds($0.1)) })
            // The receipts are read after the run: decoding them as they come would put the load
            // generator's CPU into the very moments the witnesses' answers are timed.
            var receipts: [Data] = []
            receipts.reserveCapacity(appends)
            for _ in 0..<appends {
                let (status, answer) = try await operatorClient.post("/v1/logs/wales/entries", body: body, contentType: "application/json")
                guard status == 201 else { throw CLIError("append at wales: \(status) \(String(decoding: answer, as: UTF8.self))") }
                receipts.append(answer)
                if gapMs > 0 { try await Task.sleep(for: .milliseconds(gapMs)) }
            }
            await operatorClient.close()
            // Let the last append's work end before reading the CPU.
            try await Task.sleep(for: .seconds(1))
            var cpu: [String: Double] = [:]
            for (name, pid) in pids {
                guard let before = cpuBefore[name] ?? nil, let now = Self.cpuSeconds(pid) else { continue }
                cpu[name] = ((now - before) * 1000 / Double(appends) * 100).rounded() / 100
            }
            for answer in receipts {
                let receipt = try JSONDecoder().decode(ReceiptBody.self, from: answer)
                if let time = try Checkpoint(parsing: try SignedNote(parsing: receipt.checkpoint).text).timeMillis { entries.append((receipt.index, time)) }
            }
            if !cpu.isEmpty {
                report["cpu_ms_per_append"] = cpu
                report["cpu_ms_per_append_all_nodes"] = (cpu.values.reduce(0, +) * 100).rounded() / 100
            }
            let after = try await federation.logSize("wales", at: "wales")
            // The last checkpoint's round, then what wales measured.
            var witnesses = try await reader.send(.GET, "/v1/witnesses", as: WitnessesResponse.self)
            let deadline = ContinuousClock.now + .seconds(30)
            while !(witnesses.quorumLatency.contains { $0.size >= after }) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                witnesses = try await reader.send(.GET, "/v1/witnesses", as: WitnessesResponse.self)
            }
            let samples = witnesses.quorumLatency.filter { $0.size > before }.map(\.millis).sorted()
            guard !samples.isEmpty else { throw CLIError("no checkpoint of the run reached a quorum: \(witnesses)") }
            // The one percentile rule of every benchmark (`Samples`), to two decimals.
            func percentiles(_ values: [Double]) -> [String: Double] {
                let samples = Samples(values)
                func at(_ p: Double) -> Double { ((samples.percentile(p) ?? 0) * 100).rounded() / 100 }
                return ["p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": samples.sorted.last ?? 0]
            }
            report["quorum"] = "\(witnesses.quorum) of \(witnesses.witnesses.count)"
            report["checkpoints_with_quorum"] = samples.count
            report["signed_to_quorum_ms"] = percentiles(samples)
            // Per entry: from the signing of the checkpoint that first held it to the first
            // quorum on a checkpoint that covers it (under load not every checkpoint has a round
            // of its own: a later one covers it).
            let quorums = witnesses.quorumLatency.compactMap { sample in sample.at.map { (size: sample.size, at: $0) } }
                .filter { $0.size > before }.sorted { $0.at < $1.at }
            let covered = entries.compactMap { entry in quorums.first { $0.size > entry.index }.map { Double($0.at) - Double(entry.time) } }.sorted()
            if !covered.isEmpty { report["entry_signed_to_quorum_ms"] = percentiles(covered) }
            report["entries_covered_by_a_quorum"] = covered.count
            report["witnesses"] = witnesses.witnesses.map { ["id": $0.id, "cosigned_size": $0.cosignedSize.map { Int($0) } ?? -1, "failing": $0.failing] }

            // Requests/s at uk's witness: wales's newest checkpoint, from the size uk cosigned.
            let note = String(decoding: try await reader.request(.GET, "/v1/logs/wales/checkpoint").body, as: UTF8.self)
            let signed = try SignedNote(parsing: note)
            let origin = SignedNote(text: signed.text, signatures: [signed.signatures[0]])
            let size = try Checkpoint(parsing: signed.text).size
            let uk = try federation.node("uk")
            let ukConfiguration = try NodeConfiguration.load(path: uk.config)
            let ukClient = try APIClient(certificate: nil, key: nil, ca: ukConfiguration.caCertificate, node: "uk", address: ukConfiguration.apiListen,
                                         token: try federation.readerToken())
            let request = Witnessing.Request(oldSize: size, proof: [], note: origin).body
            let (status, answer) = try await ukClient.request(.POST, "/witness/add-checkpoint", body: Data(request.utf8), contentType: "text/plain")
            guard status == 200 else { throw CLIError("uk's witness answered \(status) to wales's checkpoint of size \(size): \(String(decoding: answer, as: UTF8.self))") }
            // As wales's node, on its lanes (a reader's share one lane at 10 a second).
            let payload = Data(request.utf8)
            let runEnds = ContinuousClock.now + .seconds(seconds)
            let started = ContinuousClock.now
            let counts = try await withThrowingTaskGroup(of: (ok: Int, other: Int).self) { group in
                for _ in 0..<clients {
                    group.addTask {
                        let client = try await KeepAliveClient.connect(certificate: configuration.certificate, key: configuration.privateKey, ca: ukConfiguration.caCertificate,
                                                                       node: "uk", address: ukConfiguration.apiListen, token: nil)
                        var ok = 0, other = 0
                        while ContinuousClock.now < runEnds {
                            let (status, _) = try await client.post("/witness/add-checkpoint", body: payload, contentType: "text/plain")
                            if status == 200 { ok += 1 } else { other += 1 }
                        }
                        await client.close()
                        return (ok, other)
                    }
                }
                return try await group.reduce((ok: 0, other: 0)) { ($0.ok + $1.ok, $0.other + $1.other) }
            }
            guard counts.other == 0 else { throw CLIError("uk's witness refused \(counts.other) of \(counts.ok + counts.other) requests from wales's node") }
            let elapsed = started.duration(to: .now)
            let secondsTaken = elapsed.seconds
            report["witness_requests"] = ["requests": counts.ok, "requests_per_second": (Double(counts.ok) / secondsTaken).rounded(), "connections": clients,
                                          "as": "wales's node (a member's lanes)"] as [String: Any]
            report["wales_appended"] = Int(after - before)
        } catch {
            federation.stop()
            throw error
        }
        federation.stop()
        report["targets"] = ["signed_to_quorum_p50_ms": 5, "signed_to_quorum_p99_ms": 20]
        try? FileManager.default.removeItem(at: root)
        printJSON(report)
    }

    /// The user and system CPU seconds process `pid` has used (/proc/PID/stat), nil if unreadable.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After the command name: state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) / ticks
    }
}

import ArgumentParser
import Foundation
import QuartetAPI
import QuartetHarness
import QuartetNode
#if canImport(Glibc)
import Glibc
#endif

/// The path people use: the HTTPS API of the demo federation, driven by wrk.
struct BenchAPI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Durable appends and reads through the HTTPS API of the running demo federation (wrk).",
        discussion: """
            Starts `quartet demo` (five `quartet serve` processes on loopback, the seed plans \
            imported), then drives wales's API with wrk (keep-alive HTTPS connections, the wales \
            operator's bearer token): one progress.reading per POST /v1/logs/wales/entries with \
            --clients connections and with one, then batches of 100 per request, then one entry per \
            request each with an Idempotency-Key of its own (as the CLI sends them); then, once every \
            node holds the load and the nodes are quiet (under a tenth of a core together), reads \
            of GET /healthz and of a single-measure view query (a reader token). Every append is \
            acknowledged only once durable at wales, and the other four nodes replicate it \
            meanwhile: the load generator, five nodes and their fsyncs share this machine's \
            cores. After the federation stops, the in-process `bench append` rate (64 writers) \
            is measured for comparison. Needs wrk (scripts/setup.sh installs it).
            """)

    @Option(help: "Keep-alive connections (wrk -c).") var clients: Int = 64
    @Option(help: "Seconds per wrk run.") var seconds: Int = 10

    func run() async throws {
        guard clients >= 1, clients <= 1024 else { throw ValidationError("--clients must be from 1 to 1,024") }
        guard seconds >= 1, seconds <= 600 else { throw ValidationError("--seconds must be from 1 to 600") }
        guard let wrk = ChildProcess.onPath("wrk") else {
            throw CLIError("bench api needs wrk on PATH (Debian: apt-get install wrk; scripts/setup.sh installs it)")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-bench-api-\(UUID().uuidString)")
        let federation = try await DemoFederation.start(root: root)
        var report: [String: Any] = ["benchmark": "api", "cores": ProcessInfo.processInfo.activeProcessorCount, "clients": clients,
                                     "seconds_per_run": seconds, "wrk": wrk.path]
        do {
            let wales = try federation.node("wales")
            let url = wales.api
            let token = try federation.operatorToken("wales")
            let reader = try federation.readerToken()
            let measure = try await federation.countMeasure(of: "wales")
            let item = AppendItem(type: "progress.reading", payload: ["measure": .string(measure), "period": "2026-Q1", "value": 7])
            let reading = String(decoding: try CompactJSONEncoder.encode(item), as: UTF8.self)
            let batch = String(decoding: try CompactJSONEncoder.encode(AppendBatchRequest(entries: Array(repeating: item, count: 100))), as: UTF8.self)
            let scripts = root.appendingPathComponent("wrk")
            try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
            let sizeBefore = try await federation.logSize("wales", at: "wales")

            func run(_ name: String, method: String, path: String, token: String, body: String?, connections: Int, entriesPerRequest: Int,
                     keyed: Bool = false) throws -> [String: Any] {
                let script = scripts.appendingPathComponent("\(name).lua")
                try Data(Self.luaScript(method: method, token: token, body: body, idempotencyKeys: keyed ? UUID().uuidString.lowercased() : nil).utf8).write(to: script)
                var result = try Self.wrk(wrk, url: url + path, script: script, connections: connections, seconds: seconds)
                let requests = result["requests"] as! Int
                let elapsed = Double(result["duration_us"] as! Int) / 1_000_000
                result["requests_per_second"] = (Double(requests) / elapsed).rounded()
                if entriesPerRequest > 0 {
                    result["entries_per_request"] = entriesPerRequest
                    result["durable_entries_per_second"] = (Double(requests * entriesPerRequest) / elapsed).rounded()
                }
                result["connections"] = connections
                return result
            }
            var appends: [[String: Any]] = []
            appends.append(try run("append-\(clients)", method: "POST", path: "/v1/logs/wales/entries", token: token, body: reading,
                                   connections: clients, entriesPerRequest: 1))
            appends.append(try run("append-1", method: "POST", path: "/v1/logs/wales/entries", token: token, body: reading,
                                   connections: 1, entriesPerRequest: 1))
            appends.append(try run("batch-\(clients)", method: "POST", path: "/v1/logs/wales/entries", token: token, body: batch,
                                   connections: clients, entriesPerRequest: 100))
            // Each request with an Idempotency-Key of its own, as the CLI sends them: each key
            // is recorded, synced, before its append (`SubmissionStore`).
            appends.append(try run("append-keyed-\(clients)", method: "POST", path: "/v1/logs/wales/entries", token: token, body: reading,
                                   connections: clients, entriesPerRequest: 1, keyed: true))
            // Acknowledged means durable: every 2xx answer is an entry in wales's log.
            let acknowledged = appends.reduce(0) { $0 + ($1["succeeded"] as! Int) * ($1["entries_per_request"] as! Int) }
            let sizeAfter = try await federation.logSize("wales", at: "wales")
            report["acknowledged_entries"] = acknowledged
            report["wales_log_grew_by"] = Int(sizeAfter - sizeBefore)
            guard sizeAfter - sizeBefore >= UInt64(acknowledged) else {
                throw CLIError("wales acknowledged \(acknowledged) entries but its log grew by \(sizeAfter - sizeBefore)")
            }
            // The other nodes replicate meanwhile; how long uk needs to hold everything after the load.
            let started = ContinuousClock.now
            try await federation.waitHolding("wales", size: sizeAfter, at: "uk", timeout: .seconds(120))
            report["uk_caught_up_seconds_after_load"] = ((ContinuousClock.now - started).seconds * 1000).rounded() / 1000
            // Reads are measured on a settled federation: every node holding the load and done with
            // it (storing, folding, witnessing). Read at once, they measured the replicas' catch-up
            // of the last run's ~70,000 entries instead (10,700 against 15,800 `/healthz` reads/s
            // 4 s later, same build, same hour).
            for node in ["england", "scotland", "northern-ireland"] {
                try await federation.waitHolding("wales", size: sizeAfter, at: node, timeout: .seconds(120))
            }
            report["all_caught_up_seconds_after_load"] = ((ContinuousClock.now - started).seconds * 1000).rounded() / 1000
            let quiet = try await federation.waitQuiet(timeout: .seconds(60))
            report["settled_seconds_after_load"] = ((ContinuousClock.now - started).seconds * 1000).rounded() / 1000
            report["settled"] = quiet
            report["appends"] = appends
            report["reads"] = [
                try run("healthz", method: "GET", path: "/healthz", token: reader, body: nil, connections: clients, entriesPerRequest: 0)
                    .merging(["path": "/healthz"]) { a, _ in a },
                try run("measure", method: "GET", path: "/v1/view/measures/\(measure)", token: reader, body: nil, connections: clients, entriesPerRequest: 0)
                    .merging(["path": "/v1/view/measures/\(measure)"]) { a, _ in a },
            ]
        } catch {
            federation.stop()
            throw error
        }
        federation.stop()
        // The ledger under the API, measured the way `bench append` does, once the nodes are gone.
        let inProcess = try await BenchAppend.parse([]).runAppend(root: root.appendingPathComponent("in-process"), writers: 64, entries: 100_000)
        report["in_process_append"] = inProcess.json
        if let appends = report["appends"] as? [[String: Any]], let api = appends.first?["durable_entries_per_second"] as? Double,
           let ledger = inProcess.json["entries_per_second"] as? Double, ledger > 0 {
            report["api_to_in_process_ratio"] = (api / ledger * 1000).rounded() / 1000
        }
        report["targets"] = ["appends_per_second_at_64": 10_000, "append_p99_ms_at_64": 50, "reads_per_second_at_64": 15_000]
        try? FileManager.default.removeItem(at: root)
        printJSON(report)
    }

    /// A wrk script: the method, headers and body of every request, and a JSON summary at the end
    /// (after a marker line, below wrk's own text).
    /// `idempotencyKeys`: a prefix of this run's; each request gets `Idempotency-Key` of it,
    /// its wrk thread and a count (unique in the run, so none is a repeat).
    static func luaScript(method: String, token: String, body: String?, idempotencyKeys: String? = nil) -> String {
        var lines = [
            "wrk.method = \"\(method)\"",
            "wrk.headers[\"Authorization\"] = \"Bearer \(token)\"",
        ]
        if let body {
            lines.append("wrk.headers[\"Content-Type\"] = \"application/json\"")
            lines.append("wrk.body = [==[\(body)]==]")
        }
        if let prefix = idempotencyKeys {
            lines.append("""
                local threads = 0
                setup = function(thread)
                  threads = threads + 1
                  thread:set("id", threads)
                end
                local sent = 0
                request = function()
                  sent = sent + 1
                  wrk.headers["Idempotency-Key"] = "\(prefix)-" .. tostring(id) .. "-" .. tostring(sent)
                  return wrk.format()
                end
                """)
        }
        lines.append("""
            done = function(summary, latency, requests)
              local e = summary.errors
              io.write(string.format('QUARTET-WRK {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d}}\\n',
                summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
                latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
            end
            """)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Runs wrk and returns its summary: requests, failures, latency percentiles in ms.
    static func wrk(_ wrk: URL, url: String, script: URL, connections: Int, seconds: Int) throws -> [String: Any] {
        var settings = ChildSettings(executable: wrk.path, arguments: [
            "-t", String(min(2, connections)), "-c", String(connections), "-d", "\(seconds)s", "--timeout", "10s", "-s", script.path, url])
        settings.standardOutput = .capture()
        settings.standardError = .capture()
        let process: ChildProcess
        do { process = try ChildProcess.spawn(settings) } catch { throw CLIError("cannot run wrk: \(error)") }
        let exit = process.wait(timeout: .seconds(seconds + 60)) ?? process.stop()
        _ = process.waitForOutputEnd(timeout: .seconds(5))
        let text = process.output(1) + process.output(2)
        guard exit == .exited(0),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("QUARTET-WRK ") }),
              let summary = try JSONSerialization.jsonObject(with: Data(line.dropFirst("QUARTET-WRK ".count).utf8)) as? [String: Any],
              let errors = summary["errors"] as? [String: Int], let latency = summary["latency_us"] as? [String: Int] else {
            throw CLIError("wrk failed (\(exit)):\n\(text)")
        }
        let requests = summary["requests"] as! Int
        let failed = errors.values.reduce(0, +)
        guard requests > 0 else { throw CLIError("wrk made no request:\n\(text)") }
        // wrk counts non-2xx/3xx answers as `status` errors; a benchmark with failures is no figure.
        guard errors["status", default: 0] == 0 else { throw CLIError("\(errors["status"]!) of \(requests) requests were refused (\(url)):\n\(text)") }
        return [
            "requests": requests, "succeeded": requests - errors["status", default: 0], "errors": errors, "failed": failed,
            "duration_us": summary["duration_us"] as! Int,
            "latency_ms": latency.mapValues { (Double($0) / 10).rounded() / 100 },
        ]
    }
}

/// `quartet demo` run as a child process: its five nodes, seeded, as people run them.
final class DemoFederation {
    let root: URL
    let process: ChildProcess
    private(set) var demo: DemoDescription?

    private init(root: URL, process: ChildProcess) {
        self.root = root
        self.process = process
    }

    /// Starts `quartet demo --dir root` and waits until it has seeded the plans.
    static func start(root: URL, timeout: Duration = .seconds(300)) async throws -> DemoFederation {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let plans = ["config/plans", "../shared/plans"].first { FileManager.default.fileExists(atPath: "\($0)/uk-plan.yaml") } ?? "config/plans"
        let log = root.appendingPathComponent("demo.out")
        // In this process's group: a Ctrl-C at the benchmark's terminal stops the demo too; the
        // demo watches this process's lifeline (a benchmark killed outright leaves no federation
        // running), and its nodes the demo's.
        var settings = ChildSettings(executable: URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path,
                                     arguments: ["demo", "--dir", root.appendingPathComponent("demo").path, "--plans", plans,
                                                 "--lifeline-fd", "\(Lifeline.childDescriptor)"])
        settings.lifeline = true
        settings.standardOutput = .file(log.path)
        settings.standardError = .file(log.path)
        let process: ChildProcess
        do { process = try ChildProcess.spawn(settings) } catch { throw CLIError("cannot start quartet demo: \(error)") }
        let federation = DemoFederation(root: root, process: process)
        let deadline = ContinuousClock.now + timeout
        while true {
            if let demo = try? DemoDescription.read(root.appendingPathComponent("demo/demo.json").path), demo.seeded == true {
                federation.demo = demo
                return federation
            }
            guard process.isRunning else {
                throw CLIError("quartet demo \(process.exit.map { "\($0)" } ?? "ended"); see \(log.path):\n\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
            }
            guard ContinuousClock.now < deadline else {
                federation.stop()
                throw CLIError("quartet demo did not seed its plans within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    func node(_ name: String) throws -> DemoDescription.Node {
        guard let node = demo?.nodes.first(where: { $0.name == name }) else { throw CLIError("demo.json has no node \(name)") }
        return node
    }

    func operatorToken(_ name: String) throws -> String {
        guard let token = try node(name).operatorToken else { throw CLIError("demo.json has no operator token for \(name)") }
        return token
    }

    func readerToken() throws -> String {
        guard let token = demo?.reader.token else { throw CLIError("demo.json has no reader token") }
        return token
    }

    func client(_ name: String) throws -> APIClient {
        let configuration = try NodeConfiguration.load(path: try node(name).config)
        return try APIClient(certificate: nil, key: nil, ca: configuration.caCertificate, node: name, address: configuration.apiListen,
                             token: try readerToken())
    }

    /// A count measure of `log`'s plan, from its view.
    func countMeasure(of log: String) async throws -> String {
        let nation = try await client(log).viewNation(log)
        if let measure = nation.actions.flatMap({ $0.measures ?? [] }).first(where: { $0.kind == "count" }) { return measure.id }
        throw CLIError("\(log)'s plan has no count measure to record readings of")
    }

    /// The size of `log` as `node` holds it.
    func logSize(_ log: String, at node: String) async throws -> UInt64 {
        let logs: LogsResponse
        do { logs = try await client(node).logs() } catch { throw CLIError("GET /v1/logs at \(node): \(error)") }
        guard let size = logs.logs.first(where: { $0.log == log })?.size else { throw CLIError("\(node) holds no log \(log)") }
        return size
    }

    func waitHolding(_ log: String, size: UInt64, at node: String, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await logSize(log, at: node) < size {
            guard ContinuousClock.now < deadline else { throw CLIError("\(node) did not hold \(size) entries of \(log) within \(timeout)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until the five nodes together use under a tenth of one core over a quarter of a
    /// second (their CPU times from `/proc/<pid>/stat`), or `timeout` passes: false then.
    func waitQuiet(timeout: Duration) async throws -> Bool {
        let pids = (demo?.nodes ?? []).compactMap(\.pid)
        guard !pids.isEmpty else { throw CLIError("demo.json names no node processes") }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        let window = Duration.milliseconds(250)
        let deadline = ContinuousClock.now + timeout
        var before = try pids.reduce(0) { $0 + (try Self.cpuTicks(of: $1)) }
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: window)
            let after = try pids.reduce(0) { $0 + (try Self.cpuTicks(of: $1)) }
            if Double(after - before) / ticksPerSecond < 0.1 * window.seconds { return true }
            before = after
        }
        return false
    }

    /// User and system CPU time of a process in clock ticks (`/proc/<pid>/stat` fields 14 and 15,
    /// counted after the command name's closing parenthesis, which may itself hold spaces).
    static func cpuTicks(of pid: Int32) throws -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { throw CLIError("node process \(pid) has ended") }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (the state); utime and stime are fields 14 and 15.
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else {
            throw CLIError("cannot read the CPU time of node process \(pid)")
        }
        return user + system
    }

    /// Stops the demo and its nodes (SIGTERM, then SIGKILL after 15 s) and removes nothing.
    func stop() {
        let pids = (demo?.nodes ?? []).compactMap(\.pid)
        _ = process.stop(signal: SIGTERM, grace: .seconds(15))
        // The nodes end with the demo's lifeline; any left after the grace are killed.
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline && pids.contains(where: { kill($0, 0) == 0 }) { usleep(50_000) }
        for pid in pids where kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }
}

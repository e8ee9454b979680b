import ArgumentParser
import Foundation
import Logging
import QuartetAPI
import QuartetHarness
import QuartetNode
import QuartetPlan
import QuartetStore

struct BenchView: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "The combined view at the aggregator with a million entries: query latency, and how long a replicated batch takes to fold in.",
        discussion: """
            The five nodes run in this process with their own data directories, TLS listeners and \
            peer connections over loopback. Each imports its plan (the UK plan at uk and adopted \
            at england, scotland and northern-ireland, the Wales plan at wales); then the nations \
            append measure readings (every measure of their plan, monthly periods 2024–2027, \
            values corrected over and over) and status updates until the five logs hold \
            --entries in all, replicated to uk. Queries: GET /v1/view and GET \
            /v1/view/measures/P2.A2.M1?period=2025 at uk over one keep-alive HTTPS connection \
            with a reader token, --queries of each, p50 and p99; plus the whole view rendered \
            without its cache, and each kind of web page (--page-requests of each: the overview, \
            a priority, a nation, an action, a measure, a reading's provenance, a search). Absorb: batches of 1,000 readings appended at wales (one commit \
            each) and the time uk's view takes to fold each replicated batch.
            """)

    @Option(help: "Entries over the five logs.") var entries: Int = 1_000_000
    @Option(help: "Requests of each query.") var queries: Int = 2000
    @Option(help: "Batches of 1,000 readings for the absorb figure.") var batches: Int = 10
    @Option(help: "Requests of each web page.") var pageRequests: Int = 200
    @Option(help: "Renders of the overview and a measure page without their caches.") var pageRenders: Int = 20

    func run() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-bench-view-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let demo = try DemoCommand.parse(["--dir", root.path, "--no-start"])
        try demo.create(root)
        guard let readerToken = try DemoDescription.read(root.appendingPathComponent("demo.json").path).reader.token else {
            throw CLIError("the demo directory gives no reader token")
        }
        var quiet = Logger(label: "bench")
        quiet.logLevel = .error
        var nodes: [String: Node] = [:]
        for (name, _) in demoMembers {
            let configuration = try NodeConfiguration.load(path: root.appendingPathComponent("\(name)/\(name).json").path)
            nodes[name] = try Node(configuration: configuration, logger: quiet)
        }
        let mesh = try await runMesh(nodes)
        let report: [String: Any]
        do { report = try await measure(nodes: nodes, demo: demo, root: root, readerToken: readerToken) } catch {
            await mesh.stop()
            throw error
        }
        await mesh.stop()
        printJSON(report)
    }

    /// Fills the logs through the in-process nodes, then times the queries, pages and folds.
    private func measure(nodes: [String: Node], demo: DemoCommand, root: URL, readerToken: String) async throws -> [String: Any] {

        // Plans.
        var measures: [String: [MeasurePayload]] = [:]
        var actions: [String: [String]] = [:]
        var planEntries = 0
        for (name, _) in demoMembers {
            let plan = try PlanImport(planFile: "\(demo.plans)/\(name == "wales" ? "wales-plan.yaml" : "uk-plan.yaml")")
            let planned = try plan.entries(for: name)
            _ = try await nodes[name]!.append(contentsOf: planned.map { AppendRequest(type: $0.type.rawValue, author: "bench", payload: $0.payload.encoded()) })
            planEntries += planned.count
            let data = DemoData(log: name, planned: planned)
            measures[name] = data.measures
            actions[name] = data.actions.map(\.id)
        }

        // Fill: readings and statuses at the four nations until the logs hold `entries`.
        let nations = demoMembers.map(\.id).filter { $0 != "uk" }
        let perNation = max(0, (entries - planEntries) / nations.count)
        let fillStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for nation in nations {
                let node = nodes[nation]!
                let nationMeasures = measures[nation]!, nationActions = actions[nation]!
                for w in 0..<16 {
                    group.addTask {
                        var i = w * 256
                        while i < perNation {
                            let batch = (i..<min(i + 256, perNation)).map { Self.progress($0, measures: nationMeasures, actions: nationActions) }
                            _ = try await node.append(contentsOf: batch)
                            i += 16 * 256
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = planEntries + perNation * nations.count
        let uk = nodes["uk"]!
        // Measure on a quiet federation: every node holds and has folded every entry.
        let deadline = ContinuousClock.now + .seconds(1800)
        while nodes.values.contains(where: { $0.viewSizes.values.reduce(0, +) < UInt64(total) }) {
            guard ContinuousClock.now < deadline else { throw CLIError("the nodes did not fold every entry within 30 minutes") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let fillSeconds = (ContinuousClock.now - fillStart).seconds

        // Queries over one keep-alive connection, as a reader.
        let ukConfiguration = try NodeConfiguration.load(path: root.appendingPathComponent("uk/uk.json").path)
        let client = try await KeepAliveClient.connect(certificate: nil, key: nil, ca: ukConfiguration.caCertificate, node: "uk",
                                                       address: ukConfiguration.apiListen, token: readerToken)
        func timed(_ path: String, requests: Int? = nil, warmup: Int = 50) async throws -> (p50: Double, p99: Double, max: Double, bytes: Int, last: Data) {
            var samples: [Double] = []
            var bytes = 0
            var last = Data()
            for i in 0..<((requests ?? queries) + warmup) {
                let start = ContinuousClock.now
                let (status, body) = try await client.get(path)
                let ms = (ContinuousClock.now - start).milliseconds
                guard status == 200 else { throw CLIError("GET \(path): \(status) \(String(decoding: body.prefix(300), as: UTF8.self))") }
                if i >= warmup { samples.append(ms) }
                bytes = body.count
                last = body
            }
            let sorted = Samples(samples)
            func pick(_ p: Double) -> Double { threeDecimals(sorted.percentile(p)!) }
            return (pick(0.5), pick(0.99), pick(1), bytes, last)
        }
        let whole = try await timed("/v1/view")
        let measure = try await timed("/v1/view/measures/P2.A2.M1?period=2025")
        // The web pages (docs/web.md), rendered at uk for a reader: one of each kind.
        let readingFigure = try JSONDecoder().decode(MeasureView.self, from: measure.last).series.compactMap { $0.readings?.first?.figure }.first ?? "priority:P2"
        var pages: [[String: Any]] = []
        for path in ["/", "/priorities/P2", "/nations/wales", "/nations/wales/actions/\(actions["wales"]!.first!)", "/measures/P2.A2.M1",
                     "/figures/\(readingFigure)", "/search?q=workforce"] {
            let page = try await timed(path, requests: pageRequests, warmup: 10)
            pages.append(["path": path, "p50_ms": page.p50, "p99_ms": page.p99, "max_ms": page.max, "bytes": page.bytes])
        }
        await client.close()
        // The overview and the measure page are cached while the view does not change; what the
        // first request after a change costs is their render without the cache.
        var overviewRenders: [Double] = [], measureRenders: [Double] = []
        for _ in 0..<max(1, pageRenders) {
            var start = ContinuousClock.now
            _ = uk.renderOverviewUncached()
            overviewRenders.append((ContinuousClock.now - start).milliseconds)
            start = ContinuousClock.now
            _ = try uk.renderMeasurePageUncached("P2.A2.M1")
            measureRenders.append((ContinuousClock.now - start).milliseconds)
        }
        overviewRenders.sort()
        measureRenders.sort()
        // The answers as a client reads them: the typed view holds every entry, the measure its
        // UK series.
        let combined = try JSONDecoder().decode(CombinedView.self, from: whole.last)
        let folded = combined.logs.reduce(0) { $0 + $1.entries }
        guard folded == UInt64(total) else { throw CLIError("GET /v1/view: the logs hold \(folded) entries, expected \(total)") }
        let measured = try JSONDecoder().decode(MeasureView.self, from: measure.last)
        guard measured.series.contains(where: { $0.log == "uk" && $0.id == "P2.A2.M1" }) else {
            throw CLIError("GET /v1/view/measures/P2.A2.M1: no UK series")
        }
        var renders: [Double] = []
        var renderedBytes = 0
        for _ in 0..<20 {
            let start = ContinuousClock.now
            renderedBytes = uk.view.renderUncached(node: "uk")
            renders.append((ContinuousClock.now - start).milliseconds)
        }
        renders.sort()

        // Absorb: batches of 1,000 readings appended at wales, folded at uk.
        let wales = nodes["wales"]!
        var absorbs: [Double] = []
        for b in 0..<batches {
            let before = uk.viewSizes["wales"] ?? 0
            let mark = uk.view.foldCount
            let batch = (0..<1000).map { Self.reading(b * 1000 + $0, measures: measures["wales"]!.filter { $0.kind == .count }) }
            _ = try await wales.append(contentsOf: batch)
            let waitUntil = ContinuousClock.now + .seconds(30)
            while (uk.viewSizes["wales"] ?? 0) < before + 1000 {
                guard ContinuousClock.now < waitUntil else { throw CLIError("uk did not fold the batch within 30 s") }
                try await Task.sleep(for: .milliseconds(2))
            }
            let folds = uk.view.recentFolds
            let mine = folds.filter { $0.sequence > mark && $0.log == "wales" }
            absorbs.append(mine.reduce(0) { $0 + $1.seconds } * 1000)
        }
        absorbs.sort()
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let peakKiB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
        let round = { (v: Double) in (v * 1000).rounded() / 1000 }
        return [
            "benchmark": "view", "cores": ProcessInfo.processInfo.activeProcessorCount, "nodes": 5,
            "entries": total, "fill_seconds": round(fillSeconds),
            "whole_view": ["path": "/v1/view", "requests": queries, "p50_ms": whole.p50, "p99_ms": whole.p99, "max_ms": whole.max, "bytes": whole.bytes,
                           "uncached_render_p50_ms": round(Samples(renders).percentile(0.5)!), "uncached_render_max_ms": round(renders.last!),
                           "uncached_bytes": renderedBytes],
            "single_measure": ["path": "/v1/view/measures/P2.A2.M1?period=2025", "requests": queries, "p50_ms": measure.p50, "p99_ms": measure.p99,
                               "max_ms": measure.max, "bytes": measure.bytes],
            "absorb_batch_of_1000_readings_ms": ["batches": batches, "p50": round(Samples(absorbs).percentile(0.5)!), "max": round(absorbs.last!)],
            "web_pages": pages,
            "web_pages_uncached_render_ms": ["overview_p50": round(Samples(overviewRenders).percentile(0.5)!), "overview_max": round(overviewRenders.last!),
                                              "measure_p50": round(Samples(measureRenders).percentile(0.5)!), "measure_max": round(measureRenders.last!)],
            "process_peak_rss_mb": (Double(peakKiB) / 1024 * 10).rounded() / 10,
            "targets_ms": ["single_measure_p99": 5, "whole_view_p99": 50, "absorb_1000": 20, "web_page_p99": 20],
            "targets_bytes": ["web_page": 100_000],
        ]
    }

    /// Entry `i` of a nation's fill: mostly readings (monthly periods 2024–2027, so later ones
    /// correct earlier ones), every tenth a status update.
    static func progress(_ i: Int, measures: [MeasurePayload], actions: [String]) -> AppendRequest {
        if i % 10 == 9 {
            let statuses = ["on-track", "at-risk", "on-track", "done", "off-track", "on-track"]
            let payload = #"{"action":"\#(actions[i % actions.count])","as_of":"2025-\#(String(format: "%02d", i % 12 + 1))-28","note":"bench","status":"\#(statuses[i % statuses.count])"}"#
            return AppendRequest(type: "progress.status", author: "bench", payload: Array(payload.utf8))
        }
        return reading(i, measures: measures)
    }

    static func reading(_ i: Int, measures: [MeasurePayload]) -> AppendRequest {
        let m = measures[i % measures.count]
        let period = "\(2024 + (i / measures.count) % 4)-\(String(format: "%02d", (i / (measures.count * 4)) % 12 + 1))"
        let value: String
        switch m.kind {
        case .count: value = #""value":\#(i % 40)"#
        case .percentage: value = #""value":\#(50 + i % 51)"#
        case .milestone: value = #""achieved":\#(i % 3 != 0)"#
        case .distribution: value = #""categories":{"band-5":\#(i % 30),"band-6":\#(i % 20),"band-7":\#(i % 10)}"#
        case .qualitative: value = #""text":"Reported to the governance board (bench \#(i))""#
        }
        let payload = #"{"measure":"\#(m.id)","note":"bench","period":"\#(period)",\#(value)}"#
        return AppendRequest(type: "progress.reading", author: "bench", payload: Array(payload.utf8))
    }
}

import ArgumentParser
import Foundation
import QuartetHarness
import QuartetNode
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

/// `quartet bench recover`: a node that lost its disk rebuilds it from the federation
/// (`quartet recover`). The five logs are filled with --entries entries in all, the five
/// nodes are started as `quartet serve` processes and left to replicate everything, then
/// wales is stopped, its data directory removed, and `quartet recover` runs as a process with
/// wales's key. Timed from its start until it exits (node set-up, every log taken, verified
/// and durable, the report read from the store); its peak RSS is its own getrusage figure.
struct BenchRecover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "A node rebuilds a lost data directory from four peers: entries/s and peak RSS of `quartet recover`.")

    @Option(help: "Entries over the five logs.") var entries: Int = 1_000_000
    @Option(help: "Seconds the recovering process may take.") var timeout: Int = 900

    struct Report: Encodable {
        var cores: Int
        var entries: UInt64
        var logs: Int
        var fillSeconds: Double
        var replicatedSeconds: Double
        var seconds: Double
        var entriesPerSecond: Double
        var peakRssMb: Double
        var lostPayloads: Int
    }

    func run() async throws {
        guard entries >= 5, timeout > 0 else { throw ValidationError("--entries must be at least 5 and --timeout positive") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-bench-recover-\(UUID().uuidString)")
        try DemoCommand.parse(["--dir", root.path, "--no-start"]).create(root)
        let names = demoMembers.map(\.id)
        let federation = CatchUpFederation(root: root, nations: names)
        defer { federation.stop() }
        let perLog = entries / names.count
        var start = ContinuousClock.now
        for name in names {
            let store = try LedgerStore.open(DataDirectory(path: federation.layout.dataDirectory(name)), mode: .writer)
            let writer = try LogWriter(store: store, log: name)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<64 {
                    group.addTask {
                        var i = w
                        while i < perLog {
                            _ = try await writer.append(AppendRequest(type: "progress.reading", author: "bench", payload: benchPayload(i)))
                            i += 64
                        }
                    }
                }
                try await group.waitForAll()
            }
            try store.close()
        }
        let fillSeconds = (ContinuousClock.now - start).seconds
        start = ContinuousClock.now
        for name in names { try federation.launch(name) }
        for name in names { try await federation.waitHolding(name, atLeast: perLog * names.count, timeout: .seconds(1800)) }
        let replicatedSeconds = (ContinuousClock.now - start).seconds

        // wales loses its disk; its key survives in the operator's key backup.
        let walesData = federation.layout.dataDirectory("wales")
        let key = root.appendingPathComponent("wales-key-backup.pem").path
        try FileManager.default.copyItem(atPath: DataDirectory(path: walesData).keyPath(log: "wales"), toPath: key)
        federation.processes.removeValue(forKey: "wales")?.stop()
        try FileManager.default.removeItem(atPath: walesData)

        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var settings = ChildSettings(executable: executable, arguments: ["recover", "--config", federation.layout.configFile("wales"), "--key", key,
                                                                        "--format", "json", "--log-level", "error"])
        settings.standardOutput = .capture()
        settings.standardError = .capture()
        start = ContinuousClock.now
        let child = try federation.supervisor.start(settings)
        guard let exit = child.wait(timeout: .seconds(timeout)) else {
            child.stop(signal: SIGKILL)
            throw CLIError("quartet recover did not finish within \(timeout) s")
        }
        let seconds = (ContinuousClock.now - start).seconds
        child.waitForOutputEnd(timeout: .seconds(5))
        guard exit.code == 0 else { throw CLIError("quartet recover failed (\(exit)): \(child.output(2))") }
        guard let object = try JSONSerialization.jsonObject(with: Data(child.output().utf8)) as? [String: Any],
              let held = object["entries"] as? Int, let rss = object["peak_rss_mb"] as? Double,
              let logs = object["logs"] as? [[String: Any]] else {
            throw CLIError("quartet recover printed no report: \(child.output()) \(child.output(2))")
        }
        let lost = logs.compactMap { $0["lost"] as? [Any] }.map(\.count).reduce(0, +)
        printJSON(Report(cores: ProcessInfo.processInfo.activeProcessorCount, entries: UInt64(held), logs: logs.count,
                         fillSeconds: (fillSeconds * 10).rounded() / 10, replicatedSeconds: (replicatedSeconds * 10).rounded() / 10,
                         seconds: threeDecimals(seconds), entriesPerSecond: (Double(held) / seconds).rounded(), peakRssMb: rss, lostPayloads: lost),
                  snakeCaseKeys: true)
    }
}

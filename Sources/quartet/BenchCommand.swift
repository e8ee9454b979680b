import ArgumentParser
import Foundation
import GRDBSQLite
import QuartetAPI
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetPlan
import QuartetStore

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "System benchmarks; each prints JSON.",
                                                    subcommands: [BenchAppend.self, BenchAPI.self, BenchTLS.self, BenchReplication.self, BenchRecover.self, BenchView.self, BenchWitness.self])
}

/// A payload the size and shape of a measure reading.
func benchPayload(_ i: Int) -> [UInt8] {
    Array(#"{"measure":"wales.p2.a3.m1","period":"2026-Q\#(i % 4 + 1)","value":\#(i % 997),"unit":"count","note":"Workforce reform workshop co-delivered with HEIW and the regional partnership board","source":"bench"}"#.utf8)
}

struct BenchAppend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Durable group-committed appends: entries/s, latency, batch sizes, and the raw SQLite rate.",
        discussion: """
            Without --writers it runs 64 concurrent writers, then a single writer (for latency). \
            The raw SQLite figure inserts rows of the same size and shape, with the same \
            durability settings (WAL, synchronous=FULL), in transactions of the mean batch size \
            the 64-writer run produced, through the SQLite C API. The two alternate for --rounds \
            rounds (default 5) and the median ratio is reported.
            """)

    @Option(help: "Directory for the benchmark's data (default: a new temporary directory, removed after).") var data: String?
    @Option(help: "Concurrent writers (default: a 64-writer run, then a 1-writer run).") var writers: Int?
    @Option(help: "Entries appended in a run with many writers (a single-writer run appends at most 5,000).") var entries: Int = 200_000
    @Option(help: "Rounds of (many-writer run, raw SQLite run); the ratio reported is the median.") var rounds: Int = 5
    @Flag(help: "Also measure raw SQLite writing, per transaction, the rows Quartet adds to the entries: two subtree rows and one signed-checkpoint row (a diagnostic: what the extra pages per commit cost).")
    var rawWithCheckpointRows = false

    func run() async throws {
        guard entries > 0 else { throw ValidationError("--entries must be positive") }
        guard rounds > 0 else { throw ValidationError("--rounds must be positive") }
        if let writers, writers < 1 { throw ValidationError("--writers must be at least 1") }
        let root: URL
        let temporary = data == nil
        if let data {
            root = URL(fileURLWithPath: data)
            if FileManager.default.fileExists(atPath: root.path), !((try? FileManager.default.contentsOfDirectory(atPath: root.path))?.isEmpty ?? true) {
                throw ValidationError("--data \(data) must be a new or empty directory")
            }
        } else {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-bench-\(UUID().uuidString)")
        }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { if temporary { try? FileManager.default.removeItem(at: root) } }

        // The first run (many writers) and the raw SQLite rate are measured in alternating
        // rounds, and the ratio is taken per round, so disk noise between them cancels out.
        let first = writers ?? 64
        var rounds: [[String: Any]] = []
        var ratios: [Double] = []
        var firstRun: RunResult?
        for round in 0..<self.rounds {
            let result = try await runAppend(root: root.appendingPathComponent("round-\(round)-writers-\(first)"), writers: first,
                                             entries: first == 1 ? min(entries, 5000) : entries)
            let batch = max(1, Int(result.meanBatch.rounded()))
            let rawCount = max(result.json["entries"] as! Int, batch * 200)
            let raw = try rawSQLiteRate(path: root.appendingPathComponent("round-\(round)-raw.sqlite").path, rows: rawCount, batch: batch,
                                        headerBytes: result.rowBytes.header, payloadBytes: result.rowBytes.payload)
            let ratio = (result.json["entries_per_second"] as! Double) / raw
            ratios.append(ratio)
            var roundJSON: [String: Any] = ["quartet": result.json, "sqlite_raw_rows_per_second": raw.rounded(), "sqlite_raw_batch_size": batch,
                                            "ratio": (ratio * 1000).rounded() / 1000]
            if rawWithCheckpointRows {
                let withRows = try rawSQLiteRate(path: root.appendingPathComponent("round-\(round)-raw-rows.sqlite").path, rows: rawCount, batch: batch,
                                                 headerBytes: result.rowBytes.header, payloadBytes: result.rowBytes.payload, checkpointRows: true)
                roundJSON["sqlite_raw_with_checkpoint_rows_per_second"] = withRows.rounded()
                roundJSON["ratio_to_raw_with_checkpoint_rows"] = ((result.json["entries_per_second"] as! Double) / withRows * 1000).rounded() / 1000
            }
            rounds.append(roundJSON)
            if firstRun == nil || ratio == Samples(ratios).percentile(0.5) { firstRun = result }
        }
        var runs: [[String: Any]] = [firstRun!.json]
        if writers == nil {
            runs.append(try await runAppend(root: root.appendingPathComponent("writers-1"), writers: 1, entries: min(entries, 5000)).json)
        }
        let rowBytes = firstRun!.rowBytes
        printJSON([
            "benchmark": "append",
            "cores": ProcessInfo.processInfo.activeProcessorCount,
            "runs": runs,
            "rounds": rounds,
            "sqlite_raw": ["journal_mode": "wal", "synchronous": "FULL", "api": "SQLite C API, one prepared INSERT, BEGIN/COMMIT per batch",
                           "row": "key, header (\(rowBytes.header) B), leaf hash (32 B), salt (32 B), payload (\(rowBytes.payload) B)"],
            "quartet_to_raw_ratio_median": threeDecimals(Samples(ratios).percentile(0.5)!),
        ])
    }

    struct RunResult {
        var json: [String: Any]
        var meanBatch: Double
        var rowBytes: (header: Int, payload: Int)
    }

    func runAppend(root: URL, writers: Int, entries: Int) async throws -> RunResult {
        let directory = DataDirectory(path: root.path)
        let store = try LedgerStore.create(directory)
        defer { try? store.close() }
        let key = try Ed25519PrivateKey()
        try directory.writeSigningKey(key, log: "bench")
        try store.addLog(name: "bench", origin: defaultOrigin(log: "bench"), publicKey: key.publicKey, own: true, nowMillis: wallClockMillis())
        let writer = try LogWriter(store: store, log: "bench")
        let perWriter = (entries + writers - 1) / writers
        // Requests are built before timing starts, so the figure is Quartet's, not the benchmark's.
        let requests = (0..<997).map { AppendRequest(type: "progress.reading", author: "bench", payload: benchPayload($0)) }
        let clock = ContinuousClock()
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for w in 0..<writers {
                group.addTask {
                    var own: [Duration] = []
                    own.reserveCapacity(perWriter)
                    for i in 0..<perWriter {
                        let request = requests[(i * writers + w) % requests.count]
                        let t0 = clock.now
                        _ = try await writer.append(request)
                        own.append(t0.duration(to: clock.now))
                    }
                    return own
                }
            }
            var all: [Duration] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = start.duration(to: clock.now)
        let seconds = elapsed.seconds
        let samples = Samples(latencies.map(\.milliseconds))
        func percentile(_ p: Double) -> Double { threeDecimals(samples.percentile(p)!) }
        let histogram = writer.batchSizeHistogram
        let batches = histogram.values.reduce(0, +)
        let total = histogram.reduce(0) { $0 + $1.key * $1.value }
        let sample = try store.entries(store.log(named: "bench"), from: 0, limit: 1)[0]
        return RunResult(
            json: [
                "writers": writers, "entries": latencies.count, "seconds": (seconds * 1000).rounded() / 1000,
                "entries_per_second": (Double(latencies.count) / seconds).rounded(),
                "latency_ms": ["p50": percentile(0.50), "p99": percentile(0.99), "max": percentile(1.0)],
                "batches": batches,
                "batch_size": ["mean": (Double(total) / Double(max(batches, 1)) * 10).rounded() / 10,
                               "max": histogram.keys.max() ?? 0,
                               "histogram": Dictionary(uniqueKeysWithValues: histogram.map { (String($0.key), $0.value) })],
            ],
            meanBatch: Double(total) / Double(max(batches, 1)),
            rowBytes: (sample.headerBytes.count, sample.payload?.bytes.count ?? 0))
    }

    /// Rows per second inserting `rows` rows shaped like entry rows, `batch` per transaction,
    /// through the SQLite C API with WAL and synchronous=FULL.
    /// With `checkpointRows`, each transaction also inserts two 32-byte subtree rows and one
    /// checkpoint row with a note of Quartet's size, into tables shaped like Quartet's.
    func rawSQLiteRate(path: String, rows: Int, batch: Int, headerBytes: Int, payloadBytes: Int, checkpointRows: Bool = false) throws -> Double {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK, let db else {
            throw ValidationError("cannot open \(path)")
        }
        defer { sqlite3_close(db) }
        func exec(_ sql: String) throws {
            guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
                throw ValidationError("sqlite: \(String(cString: sqlite3_errmsg(db)))")
            }
        }
        try exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        try exec("CREATE TABLE raw (key INTEGER PRIMARY KEY, header BLOB NOT NULL, leaf_hash BLOB NOT NULL, salt BLOB, payload BLOB)")
        if checkpointRows {
            try exec("""
                CREATE TABLE nodes (log_id INTEGER NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (log_id, level, idx)) WITHOUT ROWID;
                CREATE TABLE checkpoints (log_id INTEGER NOT NULL, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, time_ms INTEGER NOT NULL, PRIMARY KEY (log_id, size)) WITHOUT ROWID;
                """)
        }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, "INSERT INTO raw (key, header, leaf_hash, salt, payload) VALUES (?, ?, ?, ?, ?)", -1, &statement, nil) == SQLITE_OK,
              let statement else { throw ValidationError("sqlite: \(String(cString: sqlite3_errmsg(db)))") }
        defer { sqlite3_finalize(statement) }
        let header = try SecureRandom.bytes(count: headerBytes)
        let hash = try SecureRandom.bytes(count: 32)
        let salt = try SecureRandom.bytes(count: 32)
        let payload = try SecureRandom.bytes(count: payloadBytes)
        let clock = ContinuousClock()
        let start = clock.now
        var key: Int64 = 0
        while key < Int64(rows) {
            try exec("BEGIN")
            for _ in 0..<batch where key < Int64(rows) {
                sqlite3_bind_int64(statement, 1, key)
                header.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 2, $0.baseAddress, Int32($0.count), nil) }
                hash.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 3, $0.baseAddress, Int32($0.count), nil) }
                salt.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 4, $0.baseAddress, Int32($0.count), nil) }
                payload.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 5, $0.baseAddress, Int32($0.count), nil) }
                guard sqlite3_step(statement) == SQLITE_DONE else { throw ValidationError("sqlite: \(String(cString: sqlite3_errmsg(db)))") }
                sqlite3_reset(statement)
                key += 1
            }
            if checkpointRows {
                try exec("INSERT INTO nodes VALUES (1, 4, \(key), randomblob(32)); INSERT INTO nodes VALUES (1, 8, \(key), randomblob(32)); INSERT INTO checkpoints VALUES (1, \(key), randomblob(32), hex(randomblob(140)), \(key))")
            }
            try exec("COMMIT")
        }
        let elapsed = start.duration(to: clock.now)
        return Double(rows) / elapsed.seconds
    }
}

struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dev", abstract: "Tools for Quartet's own tests.",
                                                    shouldDisplay: false, subcommands: [AppendLoop.self, JSONReads.self, PlanReads.self])

    /// For each line of standard input (a payload's bytes in base64), `1` if the node's JSON
    /// parser (`JSONValueCoding.parse`, which every node's fold reads payloads with) takes them,
    /// else `0`: the browser test compares the page's own parser with it, input by input.
    struct JSONReads: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "json-reads")

        func run() async throws {
            var out = ""
            while let line = readLine(strippingNewline: true) {
                guard let bytes = Data(base64Encoded: line) else { throw CLIError("json-reads: a line is not base64: \(TerminalText.escaped(String(line.prefix(40))))") }
                out += (try? JSONValueCoding.parse(Array(bytes))) != nil ? "1\n" : "0\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        }
    }

    /// For each line of standard input, `KIND TYPE BASE64 [BEFORE]` (tab-separated), `1` if the
    /// view's fold takes an entry of TYPE with that payload in a nation's log that defined action
    /// P1.A1 and its measure P1.A1.M1 of KIND before it (then BEFORE's entries, if given: base64
    /// of a JSON array of [type, payload text] pairs, each of which must fold), else `0`: the
    /// browser test compares the page's own fold (`quartetFoldTakes`) with it, input by input.
    struct PlanReads: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "plan-reads")

        func run() async throws {
            var out = ""
            while let line = readLine(strippingNewline: true) {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                guard fields.count == 3 || fields.count == 4, let payload = Data(base64Encoded: String(fields[2])) else {
                    throw CLIError("plan-reads: expected KIND<TAB>TYPE<TAB>BASE64[<TAB>BEFORE], got \(TerminalText.escaped(String(line.prefix(60))))")
                }
                var before: [(String, [UInt8])] = []
                if fields.count == 4 {
                    guard let data = Data(base64Encoded: String(fields[3])), let pairs = try? JSONSerialization.jsonObject(with: data) as? [[String]],
                          pairs.allSatisfy({ $0.count == 2 }) else {
                        throw CLIError("plan-reads: BEFORE is not base64 of a JSON array of [type, payload] pairs")
                    }
                    before = pairs.map { ($0[0], Array($0[1].utf8)) }
                }
                var view = StrategyView(ukLog: "uk", logs: ["uk", "wales"])
                let entries = [("plan.action", Array(#"{"id":"P1.A1","priority":"P1","statements":["s"]}"#.utf8)),
                               ("plan.measure", Array(#"{"id":"P1.A1.M1","action":"P1.A1","text":"m","kind":"\#(fields[0])"}"#.utf8))]
                    + before + [(String(fields[1]), Array(payload))]
                for (index, (type, bytes)) in entries.enumerated() {
                    try? view.apply(ViewEntry(log: "wales", index: UInt64(index), timeMillis: 1_767_225_600_000, type: type, payload: bytes))
                }
                let log = view.logs["wales"]
                guard log?.unreadable ?? 1 <= 1, log?.unreadableSamples.contains(where: { $0.0 < UInt64(entries.count - 1) }) != true else {
                    throw CLIError("plan-reads: the log's own definitions did not fold (kind \(TerminalText.escaped(String(fields[0]))))")
                }
                out += log?.unreadable == 0 ? "1\n" : "0\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        }
    }

    /// Appends until killed, printing `ack INDEX LEAF_HASH` once each append is acknowledged:
    /// the durability test kills it with SIGKILL and checks every acknowledged entry survived.
    struct AppendLoop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "append-loop")

        @OptionGroup var data: DataOptions
        @Option var log: String?
        @Option var writers: Int = 8

        func run() async throws {
            if let refusal = CopyMarkers.offlineWriteRefusal(data.data) { throw CLIError(refusal) }
            let store = try LedgerStore.open(DataDirectory(path: data.data), mode: .writer)
            defer { try? store.close() }
            let writer = try LogWriter(store: store, log: try ownLog(store, named: log))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<writers {
                    group.addTask {
                        var i = 0
                        while true {
                            let receipt = try await writer.append(AppendRequest(type: "test.append", author: "writer-\(w)", payload: benchPayload(i)))
                            FileHandle.standardOutput.write(Data("ack \(receipt.index) \(receipt.leafHash.base64)\n".utf8))
                            i += 1
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}

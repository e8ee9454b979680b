import ArgumentParser
import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetPlan
import QuartetPolicy
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

/// The five members of the UK occupational therapy workforce federation.
let demoMembers: [(id: String, role: String)] = [
    ("uk", "aggregator"), ("wales", "nation"), ("england", "nation"), ("scotland", "nation"), ("northern-ireland", "nation"),
]

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the five-node federation on loopback: PKI, keys, configurations, five `quartet serve` processes.",
        discussion: """
            The first run creates DIR: pki/ (federation CA, a certificate per node, an operator \
            certificate per log, a reader certificate), <node>/data (each log), <node>/<node>.json \
            (configurations), federation.json and demo.json (everything a script needs). Later runs \
            reuse DIR and its data. Ports are picked free on 127.0.0.1 unless --base-port is given \
            (peer ports from it, API ports from it + 100). Once the nodes listen, a new federation \
            is seeded through the operators' API: the UK plan at uk, the Wales plan at wales, the \
            UK actions adopted at england, scotland and northern-ireland (plans from --plans), \
            then a year of status updates, readings and evidence at every node. The dashboard \
            address and a reader token are printed. Ctrl-C (or SIGTERM) stops all five nodes \
            gracefully. --no-start only writes the files.
            """)

    @Option(help: "The directory for the federation's files and data.") var dir: String
    @Option(help: "First peer port (API ports start 100 above); 0 picks free ports.") var basePort: Int = 0
    @Flag(help: "Write the files, start nothing.") var noStart = false
    @Option(help: "The plans to import (uk-plan.yaml, wales-plan.yaml, measures-catalogue.yaml, quantitative-targets.yaml).")
    var plans: String = "config/plans"
    @Flag(help: "Do not import plans or record progress.") var noSeed = false

    func run() async throws {
        let root = URL(fileURLWithPath: dir).standardizedFileURL
        let demoFile = root.appendingPathComponent("demo.json")
        if !FileManager.default.fileExists(atPath: demoFile.path) {
            try create(root)
        }
        guard !noStart else {
            say("federation files in \(root.path); start with `quartet demo --dir \(dir)`")
            return
        }
        try await start(root)
    }

    // MARK: Creating the files

    func create(_ root: URL) throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let pki = root.appendingPathComponent("pki")
        let ca = pki.appendingPathComponent("ca").path
        _ = try FederationPKI.createAuthority(in: ca)
        var ports: [Int] = []
        for i in 0..<(demoMembers.count * 2) {
            ports.append(basePort == 0 ? try HostPort.freeLoopbackPort() : basePort + (i < demoMembers.count ? i : 100 + i - demoMembers.count))
        }
        var nodes: [[String: Any]] = []
        var federationNodes: [String] = []
        // Bearer tokens: one reader token every node accepts, one operator token per node.
        let readerToken = try TokenGrant.newToken()
        let readerHash = TokenGrant.hex(TokenGrant.digest(readerToken))
        for (i, member) in demoMembers.enumerated() {
            let nodeDir = root.appendingPathComponent(member.id)
            let files = try FederationPKI.issue(.node(member.id), caDirectory: ca, in: pki.appendingPathComponent(member.id).path)
            let operatorFiles = try FederationPKI.issue(.operator(member.id), caDirectory: ca, in: pki.appendingPathComponent("operators").path)
            // The node's data directory and log key.
            let directory = DataDirectory(path: nodeDir.appendingPathComponent("data").path)
            let store = try LedgerStore.create(directory)
            let key = try Ed25519PrivateKey()
            try directory.writeSigningKey(key, log: member.id)
            let info = try store.addLog(name: member.id, origin: defaultOrigin(log: member.id), publicKey: key.publicKey, own: true, nowMillis: wallClockMillis())
            try store.close()
            let peer = ports[i], api = ports[demoMembers.count + i]
            let operatorToken = try TokenGrant.newToken()
            let operatorHash = TokenGrant.hex(TokenGrant.digest(operatorToken))
            federationNodes.append(#"    {"id": "\#(member.id)", "role": "\#(member.role)", "peer": "127.0.0.1:\#(peer)", "api": "https://127.0.0.1:\#(api)", "vkey": "\#(info.verifier.vkey)"}"#)
            let config = """
                {
                  "node": "\(member.id)",
                  "data": "data",
                  "peer": {"listen": "127.0.0.1:\(peer)"},
                  "api": {"listen": "127.0.0.1:\(api)"},
                  "tls": {"ca": "../pki/ca/ca.pem", "certificate": "../pki/\(member.id)/\(member.id).pem", "key": "../pki/\(member.id)/\(member.id).key"},
                  "federation": "../federation.json",
                  "tokens": [
                    {"name": "analyst", "role": "reader", "sha256": "\(readerHash)"},
                    {"name": "\(member.id)-operator", "role": "operator", "sha256": "\(operatorHash)"}
                  ]
                }

                """
            let configPath = nodeDir.appendingPathComponent("\(member.id).json")
            try Data(config.utf8).write(to: configPath)
            nodes.append(["name": member.id, "role": member.role, "peer": "127.0.0.1:\(peer)", "api": "https://127.0.0.1:\(api)",
                          "config": configPath.path, "data": directory.url.path, "log": member.id, "vkey": info.verifier.vkey,
                          "ca_certificate": files.caCertificate,
                          "operator_certificate": operatorFiles.certificate, "operator_key": operatorFiles.key,
                          "operator_token": operatorToken])
        }
        let reader = try FederationPKI.issue(.reader("analyst"), caDirectory: ca, in: pki.appendingPathComponent("readers").path)
        // The data owners' keys (pki/owners/OWNER.pem): they countersign the demo's agreements.
        var ownerLines: [String] = []
        var ownerKeys: [String: String] = [:]
        for owner in demoAgreements.map(\.owner) where ownerKeys[owner] == nil {
            let key = try Ed25519PrivateKey()
            let path = pki.appendingPathComponent("owners/\(owner).pem")
            try FileManager.default.createDirectory(at: path.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path.path, contents: Data(try key.pemRepresentation().utf8), attributes: [.posixPermissions: 0o600]) else {
                throw CLIError("cannot write \(path.path)")
            }
            ownerKeys[owner] = path.path
            // Each owner's labels share a prefix (heiw.*): only its agreements open them.
            let prefixes = Set(demoAgreements.filter { $0.owner == owner }.flatMap(\.agreement.labels).map { String($0.prefix { $0 != "." }) + ".*" })
            let labels = prefixes.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
            ownerLines.append(#"    {"id": "\#(owner)", "vkey": "\#(NoteVerifier(name: owner, publicKey: key.publicKey).vkey)", "labels": [\#(labels)]}"#)
        }
        let federation = "{\n  \"federation\": \"uk-ot-workforce\",\n  \"nodes\": [\n\(federationNodes.joined(separator: ",\n"))\n  ],\n  \"owners\": [\n\(ownerLines.joined(separator: ",\n"))\n  ]\n}\n"
        try Data(federation.utf8).write(to: root.appendingPathComponent("federation.json"))
        let demo: [String: Any] = [
            "federation": root.appendingPathComponent("federation.json").path,
            "ca_certificate": "\(ca)/ca.pem",
            "reader": ["certificate": reader.certificate, "key": reader.key, "identity": FederationIdentity.reader("analyst").uri,
                       "token": readerToken],
            "owner_keys": ownerKeys,
            "nodes": nodes,
        ]
        try writeJSON(demo, to: root.appendingPathComponent("demo.json"))
    }

    func writeJSON(_ object: [String: Any], to url: URL) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        try (data + Data("\n".utf8)).write(to: url, options: .atomic)
    }

    // MARK: Running the nodes

    func start(_ root: URL) async throws {
        let demoFile = root.appendingPathComponent("demo.json")
        guard var demo = try JSONSerialization.jsonObject(with: Data(contentsOf: demoFile)) as? [String: Any],
              var nodes = demo["nodes"] as? [[String: Any]] else { throw CLIError("\(demoFile.path) is not a demo description") }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        unblockShutdownSignals()
        // Ctrl-C reaches the whole process group; the children handle it themselves. This
        // process waits for them, then exits.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        var processes: [Process] = []
        var tokens: [String] = []
        let logs = root.appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        for (i, node) in nodes.enumerated() {
            let name = node["name"] as! String
            let process = Process()
            process.executableURL = executable
            process.arguments = ["serve", "--config", node["config"] as! String]
            let logURL = logs.appendingPathComponent("\(name).log")
            if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }
            let handle = try FileHandle(forWritingTo: logURL)
            handle.seekToEndOfFile()
            process.standardError = handle
            process.standardOutput = handle
            let token = UUID().uuidString
            handle.write(Data("--- quartet demo: starting \(token)\n".utf8))
            tokens.append(token)
            try process.run()
            processes.append(process)
            nodes[i]["pid"] = Int(process.processIdentifier)
            nodes[i]["log_file"] = logURL.path
        }
        demo["nodes"] = nodes
        try writeJSON(demo, to: demoFile)
        // Wait until every node has said it is listening (or a node exits).
        let deadline = Date().addingTimeInterval(60)
        for (i, node) in nodes.enumerated() {
            let logFile = node["log_file"] as! String
            while !listening(logFile, token: tokens[i]) {
                guard processes[i].isRunning else {
                    stopAll(processes)
                    throw CLIError("node \(node["name"]!) exited with status \(processes[i].terminationStatus); see \(node["log_file"]!)")
                }
                guard Date() < deadline else { stopAll(processes); throw CLIError("node \(node["name"]!) did not start listening within 60 s") }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        if !noSeed && demo["seeded"] as? Bool != true && (demo["reader"] as? [String: Any])?["token"] == nil {
            stopAll(processes)
            throw CLIError("\(root.path) was made by an older quartet demo (no tokens); remove it (or pass --no-seed) and run again")
        }
        if !noSeed && demo["seeded"] as? Bool != true {
            do {
                try await seed(nodes, ownerKeys: demo["owner_keys"] as? [String: String] ?? [:])
                demo["seeded"] = true
                try writeJSON(demo, to: demoFile)
            } catch {
                stopAll(processes)
                throw error
            }
        }
        say("Quartet federation running (\(nodes.count) nodes); Ctrl-C stops it.")
        for node in nodes {
            let name = (node["name"] as! String).padding(toLength: 17, withPad: " ", startingAt: 0)
            let role = (node["role"] as! String).padding(toLength: 10, withPad: " ", startingAt: 0)
            say("  \(name) \(role) peer \(node["peer"]!)  api \(node["api"]!)  pid \(node["pid"]!)")
        }
        say("demo description for scripts: \(demoFile.path)")
        say("CA: \(demo["ca_certificate"]!)   reader certificate: \((demo["reader"] as! [String: Any])["certificate"]!)")
        let reader = demo["reader"] as! [String: Any]
        if let token = reader["token"] as? String {
            say("")
            say("Dashboard (UK aggregator): \(nodes[0]["api"]!)/")
            say("  reader token: \(token)")
            say("  sign in directly: \(nodes[0]["api"]!)/login?token=\(token)")
            say("  (the browser must trust the federation CA \(demo["ca_certificate"]!), or accept the warning)")
            say("Each nation's own dashboard is at its api address above.")
            say("try: curl --cacert \(demo["ca_certificate"]!) -H 'authorization: Bearer \(token)' \(nodes[0]["api"]!)/v1/view/totals")
        }
        // Wait for a signal or for a node to die.
        var received: Int32 = 0
        let signals = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: sig)
            source.setEventHandler { received = sig }
            source.resume()
            return source
        }
        while received == 0 && processes.allSatisfy(\.isRunning) {
            try await Task.sleep(for: .milliseconds(100))
        }
        _ = signals
        if received == 0, let dead = processes.firstIndex(where: { !$0.isRunning }) {
            printError("node \(nodes[dead]["name"]!) exited with status \(processes[dead].terminationStatus); stopping the others")
        }
        say("stopping the federation...")
        stopAll(processes)
        say("stopped")
    }

    /// Imports the plans and records a year of progress at every node, through the API with
    /// each node's operator token.
    func seed(_ nodes: [[String: Any]], ownerKeys: [String: String]) async throws {
        let plansDir = URL(fileURLWithPath: plans).standardizedFileURL.path
        for file in ["uk-plan.yaml", "wales-plan.yaml", "measures-catalogue.yaml", "quantitative-targets.yaml"] {
            guard FileManager.default.fileExists(atPath: "\(plansDir)/\(file)") else {
                throw CLIError("\(plansDir)/\(file) not found; run from the repository root or give --plans DIR")
            }
        }
        var facts: [String: PlanFact] = [:]
        do { facts = try PlanFact.load("\(plansDir)/facts.yaml") } catch { printError("demo: no facts for the demo data: \(error)") }
        // The UK plan first, so the priorities reach the aggregator before the nations' actions.
        for node in nodes {
            let name = node["name"] as! String
            let configuration: NodeConfiguration
            do { configuration = try NodeConfiguration.load(path: node["config"] as! String) } catch { throw CLIError("\(error)") }
            let client = try APIClient(certificate: nil, key: nil, ca: configuration.caCertificate, node: configuration.node,
                                       address: HostPort(host: configuration.apiListen.host, port: configuration.apiListen.port),
                                       token: node["operator_token"] as? String)
            let planFile = name == "wales" ? "\(plansDir)/wales-plan.yaml" : "\(plansDir)/uk-plan.yaml"
            let imported = try await importPlan(file: planFile, catalogue: nil, targets: nil, client: client, configuration: configuration, dryRun: false)
            var data = DemoData(log: configuration.log, planned: imported.planned, facts: facts)
            let progress = data.entries()
            for start in stride(from: 0, to: progress.count, by: 1000) {
                try await postBatch(Array(progress[start..<min(start + 1000, progress.count)]), log: configuration.log, client: client, configuration: configuration)
            }
            // The data-sharing agreements this node holds, countersigned by their owners.
            var agreements = 0
            for seed in demoAgreements where seed.holder == configuration.log {
                guard let keyPath = ownerKeys[seed.owner] else { continue }
                let key = try Ed25519PrivateKey(pem: try String(contentsOfFile: keyPath, encoding: .utf8))
                let note = try NoteSigner(name: seed.owner, key: key).sign(text: seed.agreement.text)
                _ = try await call(client, .POST, "/v1/logs/\(configuration.log)/entries",
                                   body: ["type": "agreement.established", "payload": ["note": note.serialized]], configuration: configuration)
                agreements += 1
                // A restricted dataset under it: OT headcount by band and board (simulated).
                var random = DemoRandom(seed: UInt64(seed.owner.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) }))
                let boards = demoBoards[seed.holder] ?? ["all"]
                var rows: [[String: Any]] = []
                for board in boards {
                    for band in ["5", "6", "7", "8a", "8b+"] {
                        let scale = band == "8b+" ? 4 : (band == "8a" ? 12 : 40)
                        rows.append(["board": board, "band": band, "count": Int(random.next() % UInt64(scale))])
                    }
                }
                let dataset: [String: Any] = ["dataset": "ot-headcount-by-band-and-board", "period": "2025-03-31", "rows": rows,
                                              "note": "simulated demo figures"]
                _ = try await call(client, .POST, "/v1/logs/\(configuration.log)/entries",
                                   body: ["type": "dataset.rows", "classification": seed.agreement.labels[0], "payload": dataset], configuration: configuration)
            }
            say("seeded \(name): \(imported.appended) plan entries (\(imported.plan.planID) plan), \(progress.count) progress entries for 2025, \(agreements) data-sharing agreement\(agreements == 1 ? "" : "s")")
        }
    }

    func stopAll(_ processes: [Process]) {
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(20)
        while processes.contains(where: \.isRunning) && Date() < deadline { usleep(50_000) }
        for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Whether the node's log shows it listening since it started (its ready line follows the
    /// marker this command writes before starting it).
    func listening(_ logFile: String, token: String) -> Bool {
        guard let text = try? String(contentsOfFile: logFile, encoding: .utf8),
              let start = text.range(of: "--- quartet demo: starting \(token)\n", options: .backwards) else { return false }
        return text[start.upperBound...].contains(" listening: peer ")
    }
}

/// Writes a line to standard output at once (the demo runs for long; scripts read it live).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// The agreements UK plan action P4.A5 names ("Data-sharing agreements established with HCPC,
/// Skills for Care, NHS England, HEIW, NHS Scotland and HSCNI"), each held by the node of the
/// owner's nation (HCPC's, UK-wide, by uk), over the plan period, sharing aggregates with the
/// aggregator (HCPC's with the nations; NHS Scotland's rows in full, so the demo shows a
/// disclosure) and suppressing counts under 5. Labels, purpose, access and the minimum cell size
/// are the demo's choices; the seed documents give none.
let demoAgreements: [(owner: String, holder: String, agreement: Agreement)] = {
    let from = Timestamp.parse("2024-01-01T00:00:00Z")!, until = Timestamp.parse("2028-01-01T00:00:00Z")!
    let purpose = "UK occupational therapy workforce strategy: workforce planning (UK plan P4.A5)"
    func make(_ owner: String, _ holder: String, _ label: String, _ recipients: [String: Access]) -> (String, String, Agreement) {
        (owner, holder, Agreement(id: "\(owner)-2024", owner: owner, holder: holder, labels: [label], recipients: recipients,
                                  purpose: purpose, validFrom: from, validUntil: until, minCellSize: 5))
    }
    return [
        make("HCPC", "uk", "hcpc.register.occupational-therapists", ["wales": .aggregate, "england": .aggregate, "scotland": .aggregate, "northern-ireland": .aggregate]),
        make("SKILLS-FOR-CARE", "england", "sfc.workforce.adult-social-care", ["uk": .aggregate]),
        make("NHS-ENGLAND", "england", "nhse.workforce.headcount", ["uk": .aggregate]),
        make("HEIW", "wales", "heiw.workforce.headcount", ["uk": .aggregate]),
        make("NHS-SCOTLAND", "scotland", "nhss.workforce.headcount", ["uk": .full]),
        make("HSCNI", "northern-ireland", "hscni.workforce.headcount", ["uk": .aggregate]),
    ]
}()

/// Where each holder's workforce data is broken down (health boards, trusts, regions).
let demoBoards: [String: [String]] = [
    "wales": ["Aneurin Bevan", "Betsi Cadwaladr", "Cardiff and Vale", "Cwm Taf Morgannwg", "Hywel Dda", "Powys", "Swansea Bay"],
    "scotland": ["Ayrshire and Arran", "Borders", "Dumfries and Galloway", "Fife", "Forth Valley", "Grampian", "Greater Glasgow and Clyde",
                 "Highland", "Lanarkshire", "Lothian", "Orkney", "Shetland", "Tayside", "Western Isles"],
    "northern-ireland": ["Belfast", "Northern", "South Eastern", "Southern", "Western"],
    "england": ["North East and Yorkshire", "North West", "Midlands", "East of England", "London", "South East", "South West"],
    "uk": ["England", "Northern Ireland", "Scotland", "Wales"],
]

import ArgumentParser
import Foundation
import QuartetAPI
import QuartetCrypto
import QuartetHarness
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
    @Option(help: .hidden) var lifelineFd: Int32?

    func run() async throws {
        // Started by a benchmark with the read end of its lifeline: when the benchmark ends,
        // however it ends (SIGKILL too), stop the federation as a SIGTERM does.
        try watchLifeline(lifelineFd, saying: "quartet demo: the process that started it has ended; stopping")
        let root = URL(fileURLWithPath: dir).standardizedFileURL
        // A directory another user can change is theirs to fill: a node's log file replaced by
        // a link writes request paths into a file of this user's (a shell's start-up file), a
        // planted demo.json or node configuration is run as this user (finding 292). As
        // `backup --out` requires: this user's (or root's) all the way down.
        try OwnDirectory.prepare(root.path, option: "--dir")
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
        let layout = FederationLayout(root: root)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let ca = layout.caDirectory
        _ = try FederationPKI.createAuthority(in: ca)
        var ports: [Int] = []
        for i in 0..<(demoMembers.count * 2) {
            var port = basePort == 0 ? try HostPort.freeLoopbackPort() : basePort + (i < demoMembers.count ? i : 100 + i - demoMembers.count)
            while basePort == 0 && ports.contains(port) { port = try HostPort.freeLoopbackPort() }
            ports.append(port)
        }
        var nodes: [DemoDescription.Node] = []
        var federationNodes: [FederationFile.Node] = []
        // Bearer tokens: one reader token every node accepts, one operator token per node.
        let readerToken = try TokenGrant.newToken()
        let readerHash = TokenGrant.hex(TokenGrant.digest(readerToken))
        for (i, member) in demoMembers.enumerated() {
            let files = try FederationPKI.issue(.node(member.id), caDirectory: ca, in: layout.nodePKIDirectory(member.id))
            let operatorFiles = try FederationPKI.issue(.operator(member.id), caDirectory: ca, in: "\(layout.pkiDirectory)/operators")
            // The node's data directory and log key.
            let directory = DataDirectory(path: layout.dataDirectory(member.id))
            let store = try LedgerStore.create(directory)
            let key = try Ed25519PrivateKey()
            try directory.writeSigningKey(key, log: member.id)
            let info = try store.addLog(name: member.id, origin: defaultOrigin(log: member.id), publicKey: key.publicKey, own: true, nowMillis: wallClockMillis())
            try store.close()
            let peer = "127.0.0.1:\(ports[i])", api = "https://127.0.0.1:\(ports[demoMembers.count + i])"
            let role: FederationFile.Node.Role = member.role == "aggregator" ? .aggregator : .nation
            let operatorToken = try TokenGrant.newToken(node: member.id)
            // Each node witnesses the others' logs with a key of its own (docs/witness.md).
            let witnessKey = try WitnessStore.witnessKey(directory)
            let witness = CosignatureVerifier(name: WitnessStore.keyName(origin: info.origin), publicKey: witnessKey.publicKey)
            federationNodes.append(FederationFile.Node(id: member.id, role: role, peer: peer, api: api, vkey: info.verifier.vkey, witness: witness.vkey))
            let configuration = layout.configuration(node: member.id, peer: peer, api: "127.0.0.1:\(ports[demoMembers.count + i])", tokens: [
                .init(name: "analyst", role: .reader, sha256: readerHash),
                .init(name: "\(member.id)-operator", role: .operator, sha256: TokenGrant.hex(TokenGrant.digest(operatorToken))),
            ])
            try ProvisionedFile.write(configuration, to: layout.configFile(member.id))
            nodes.append(DemoDescription.Node(name: member.id, role: role, peer: peer, api: api, config: layout.configFile(member.id),
                                              data: directory.url.path, log: member.id, vkey: info.verifier.vkey,
                                              caCertificate: files.caCertificate, operatorCertificate: operatorFiles.certificate,
                                              operatorKey: operatorFiles.key, operatorToken: operatorToken))
        }
        let reader = try FederationPKI.issue(.reader("analyst"), caDirectory: ca, in: "\(layout.pkiDirectory)/readers")
        // The data owners' keys (pki/owners/OWNER.pem): they countersign the demo's agreements.
        var owners: [FederationFile.Owner] = []
        var ownerKeys: [String: String] = [:]
        for owner in demoAgreements.map(\.owner) where ownerKeys[owner] == nil {
            let key = try Ed25519PrivateKey()
            let path = layout.ownerKey(owner)
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: path, contents: Data(try key.pemRepresentation().utf8), attributes: [.posixPermissions: 0o600]) else {
                throw CLIError("cannot write \(path)")
            }
            ownerKeys[owner] = path
            // Each owner's labels share a prefix (heiw.*): only its agreements open them.
            let prefixes = Set(demoAgreements.filter { $0.owner == owner }.flatMap(\.agreement.labels).map { String($0.prefix { $0 != "." }) + ".*" })
            owners.append(FederationFile.Owner(id: owner, vkey: NoteVerifier(name: owner, publicKey: key.publicKey).vkey, labels: prefixes.sorted()))
        }
        try ProvisionedFile.write(FederationFile(federation: "uk-ot-workforce", nodes: federationNodes, owners: owners), to: layout.federationFile)
        // Every member signs the federation file (a quorum must; here all five keys are at hand).
        for member in demoMembers {
            let key = try DataDirectory(path: layout.dataDirectory(member.id)).readSigningKey(log: member.id)
            try FederationTrust.sign(file: layout.federationFile, member: member.id, key: key)
        }
        let demo = DemoDescription(federation: layout.federationFile, caCertificate: layout.caCertificate,
                                   reader: .init(certificate: reader.certificate, key: reader.key, identity: FederationIdentity.reader("analyst").uri, token: readerToken),
                                   ownerKeys: ownerKeys, nodes: nodes)
        try ProvisionedFile.write(demo, to: layout.demoFile)
    }

    // MARK: Running the nodes

    /// Runs the five nodes until Ctrl-C, SIGTERM or a node's exit. The nodes are children in this
    /// process's process group holding its lifeline (QuartetHarness): a Ctrl-C at the terminal
    /// reaches them too, a signal to this process stops them (SIGTERM, SIGKILL after 10 s) before
    /// it exits, and if this process is killed outright they stop themselves.
    func start(_ root: URL) async throws {
        let layout = FederationLayout(root: root)
        var demo = try DemoDescription.read(layout.demoFile)
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let supervisor = ProcessSupervisor()
        ShutdownSignals.install([SIGINT, SIGTERM]) { _ in
            // On a thread of its own, whatever the main flow is doing (starting, seeding, waiting).
            say("stopping the federation...")
            supervisor.stopAll()
            say("stopped")
            _exit(0)
        }
        try FileManager.default.createDirectory(atPath: layout.logsDirectory, withIntermediateDirectories: true)
        var children: [ChildProcess] = []
        do {
            for (i, node) in demo.nodes.enumerated() {
                let log = layout.logFile(node.name)
                try appendLine("--- quartet demo: starting \(node.name) at \(Date())", to: log)
                let child = try supervisor.start(ServeChild.settings(executable: executable, config: node.config, log: log))
                children.append(child)
                demo.nodes[i].pid = child.pid
                demo.nodes[i].logFile = log
            }
            try ProvisionedFile.write(demo, to: layout.demoFile)
            // Wait until every node has said it is listening (or a node exits).
            for (i, child) in children.enumerated() { _ = try ServeChild.waitUntilListening(child, timeout: .seconds(60), log: demo.nodes[i].logFile) }
            if !noSeed && demo.seeded != true && demo.reader.token == nil {
                throw CLIError("\(root.path) was made by an older quartet demo (no tokens); remove it (or pass --no-seed) and run again")
            }
            if !noSeed && demo.seeded != true {
                try await seed(demo.nodes, ownerKeys: demo.ownerKeys)
                demo.seeded = true
                try ProvisionedFile.write(demo, to: layout.demoFile)
            }
        } catch {
            if supervisor.isStopping { try await Task.sleep(for: .seconds(3600)) }
            supervisor.stopAll()
            throw error
        }
        let nodes = demo.nodes
        say("Quartet federation running (\(nodes.count) nodes); Ctrl-C stops it.")
        for node in nodes {
            let name = node.name.padding(toLength: 17, withPad: " ", startingAt: 0)
            let role = node.role.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
            say("  \(name) \(role) peer \(node.peer)  api \(node.api)  pid \(node.pid ?? 0)")
        }
        say("demo description for scripts: \(layout.demoFile)")
        say("CA: \(demo.caCertificate)   reader certificate: \(demo.reader.certificate)")
        if let token = demo.reader.token {
            say("")
            say("Dashboard (UK aggregator): \(nodes[0].api)/")
            say("  reader token: \(token)")
            say("  sign-in link (its page asks, its button signs in): \(nodes[0].api)/login?token=\(token)")
            say("  (the browser must trust the federation CA \(demo.caCertificate), or accept the warning)")
            say("Each nation's own dashboard is at its api address above.")
            say("try: curl --cacert \(demo.caCertificate) -H 'authorization: Bearer \(token)' \(nodes[0].api)/v1/view/totals")
        }
        // Run until a node dies; a signal ends this process from the signal thread.
        while true {
            try await Task.sleep(for: .milliseconds(200))
            guard !supervisor.isStopping, let dead = supervisor.firstEnded() else { continue }
            printError("node \(nodes[children.firstIndex { $0 === dead }!].name) \(dead.exit!); stopping the others")
            say("stopping the federation...")
            supervisor.stopAll()
            say("stopped")
            throw ExitCode.failure
        }
    }

    /// Imports the plans and records a year of progress at every node, through the API with
    /// each node's operator token.
    func seed(_ nodes: [DemoDescription.Node], ownerKeys: [String: String]) async throws {
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
            let name = node.name
            let configuration: ClientConfiguration
            do { configuration = try ClientConfiguration(NodeConfiguration.load(path: node.config)) } catch { throw CLIError("\(error)") }
            let client = try APIClient(certificate: nil, key: nil, ca: configuration.caCertificate, node: configuration.node,
                                       address: configuration.address, token: node.operatorToken)
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
                let log = configuration.log
                _ = try await api(configuration) {
                    try await client.append(log: log, AppendItem(type: "agreement.established", payload: ["note": .string(note.serialized)]))
                }
                agreements += 1
                // A restricted dataset under it: OT headcount by band and board (simulated).
                var random = DemoRandom(seed: UInt64(seed.owner.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) }))
                let boards = demoBoards[seed.holder] ?? ["all"]
                var rows: [PayloadValue] = []
                for board in boards {
                    for band in ["5", "6", "7", "8a", "8b+"] {
                        let scale = band == "8b+" ? 4 : (band == "8a" ? 12 : 40)
                        rows.append(["board": .string(board), "band": .string(band), "count": .number(Double(random.next() % UInt64(scale)))])
                    }
                }
                let dataset: PayloadValue = ["dataset": "ot-headcount-by-band-and-board", "period": "2025-03-31", "rows": .array(rows),
                                             "note": "simulated demo figures"]
                let label = seed.agreement.labels[0]
                _ = try await api(configuration) {
                    try await client.append(log: log, AppendItem(type: "dataset.rows", classification: label, payload: dataset))
                }
            }
            say("seeded \(name): \(imported.appended) plan entries (\(imported.plan.planID) plan), \(progress.count) progress entries for 2025, \(agreements) data-sharing agreement\(agreements == 1 ? "" : "s")")
        }
    }
}

/// Appends a line to a file, creating it if missing.
func appendLine(_ text: String, to path: String) throws {
    if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data((text + "\n").utf8))
}

/// Writes a line to standard output at once (the demo runs for long; scripts read it live).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// The agreements UK plan action P4.A5 names ("Data-sharing agreements established with HCPC,
/// Skills for Care, NHS England, HEIW, NHS Scotland and HSCNI"), each held by the node of the
/// owner's nation (HCPC's, UK-wide, by uk), over the plan period, sharing aggregates with the
/// aggregator (HCPC's with the nations; NHS Scotland's rows in full, so the demo shows a
/// disclosure) and suppressing counts under 8 (rounding to 5: NHS England's HES practice, the
/// smallest figure shown is 10). Labels, purpose, access and the minimum cell size are the
/// demo's choices; the seed documents give none.
let demoAgreements: [(owner: String, holder: String, agreement: Agreement)] = {
    let from = Timestamp.parse("2024-01-01T00:00:00Z")!, until = Timestamp.parse("2028-01-01T00:00:00Z")!
    let purpose = "UK occupational therapy workforce strategy: workforce planning (UK plan P4.A5)"
    func make(_ owner: String, _ holder: String, _ label: String, _ recipients: [String: Access]) -> (String, String, Agreement) {
        (owner, holder, Agreement(id: "\(owner)-2024", owner: owner, holder: holder, labels: [label], recipients: recipients,
                                  purpose: purpose, validFrom: from, validUntil: until, minCellSize: Suppression.nhsSmallestCount))
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

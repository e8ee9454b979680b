import ArgumentParser
import Foundation
import Logging
import QuartetHarness
import QuartetNode
#if canImport(Glibc)
import Glibc
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a node: the peer port (mutual TLS) and the HTTPS API.",
        discussion: """
            Reads the node configuration file (see docs/operations.md and config/). SIGTERM or \
            SIGINT stops the node gracefully: listeners close, open requests finish, the data \
            directory is closed. SIGHUP asks for a reload. Under systemd (Type=notify) the node \
            reports READY=1 once both ports listen, STOPPING=1 when it begins to stop, and \
            RELOADING=1 then READY=1 around a reload, through $NOTIFY_SOCKET.
            """)

    @Option(help: "The node configuration file (JSON).") var config: String
    @Option(help: "Override the configuration's log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level?
    @Option(help: "Override the configuration's log format: text, or json (one object per line, for log shippers).")
    var logFormat: NodeConfiguration.LogFormat?
    @Option(help: .hidden) var lifelineFd: Int32?
    @Flag(name: .customLong("i-am-the-only-copy"), help: """
        Append at once, without first learning from peers how much of this node's own log they hold. \
        Only when no other node holds the log (a new federation whose peers are not up yet): a restored \
        older copy started this way signs a second history (docs/operations.md).
        """)
    var onlyCopy = false
    @Option(help: """
        Peers that must say how much of this node's own log they hold before it appends; only \
        the log's witnesses count, and more than there are means all of them (default: as many as \
        meet every witness quorum of the log, 2 of the 4 peers of a five-member federation). Lower it only knowingly, while fewer members are up: one stale \
        or hostile peer answering alone can then open a restored older copy (docs/operations.md).
        """)
    var peerAnswers: Int?
    @Option(help: .hidden) var protocolVersion: UInt16?
    @Flag(help: """
        Let this node dump core (and other processes of its user read its memory). By default it \
        cannot: a core file holds its signing keys and the restricted rows it holds, wherever \
        cores are collected. For debugging a crash only.
        """)
    var allowCoreDumps = false

    func run() async throws {
        // A reload request (SIGHUP) must never stop the node, even before its handler is in place.
        signal(SIGHUP, SIG_IGN)
        // Before any key is read.
        if !allowCoreDumps {
            do { try CoreDumps.forbid() } catch { throw CLIError("\(error)") }
        }
        // Started by a supervisor (`quartet demo`, a benchmark, a test) with the read end of its
        // lifeline: when the supervisor ends, however it ends, stop too (QuartetHarness.Lifeline).
        try watchLifeline(lifelineFd, saying: "quartet serve: the process that started this node has ended; stopping")
        let configuration: NodeConfiguration
        do {
            var loaded = try NodeConfiguration.load(path: config)
            loaded.onlyCopy = onlyCopy
            if let peerAnswers {
                // More than the peers there are means every peer.
                guard (1...1_000).contains(peerAnswers) else { throw CLIError("--peer-answers must be from 1 to 1,000, got \(peerAnswers)") }
                loaded.peerAnswers = peerAnswers
            }
            if let protocolVersion {
                // Only to test upgrades: a node that speaks the previous version.
                let spoken = NodeConfiguration.protocolVersions
                guard spoken.contains(protocolVersion) else {
                    throw CLIError("--protocol-version must be from \(spoken.lowerBound) to \(spoken.upperBound)")
                }
                loaded.protocolVersion = protocolVersion
            }
            configuration = loaded
        } catch { throw CLIError("\(error)") }
        let level = logLevel ?? configuration.logLevel
        let format = logFormat ?? configuration.logFormat
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = TextLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        var logger = Logger(label: "quartet")
        logger[metadataKey: "node"] = "\(configuration.node)"
        // A parent (a test runner, a supervisor) may have blocked these; a daemon must see them.
        unblockShutdownSignals()
        let announce = logger
        let manager = ServiceNotifier()
        if let problem = manager.problem { logger.warning("\(problem)") }
        let notifyFailed: @Sendable (String) -> Void = { announce.warning("\($0)") }
        // Opening can take minutes (a format migration copies the database first; the view is
        // folded from every entry): systemd's start timeout (90 s unless the unit says) is
        // pushed on every 20 s until the node is ready, so a large directory is not killed
        // half-way at every start.
        let starting = manager.isEnabled ? StartTimeoutExtender(manager, notifyFailed) : nil
        let node: Node
        do { node = try Node(configuration: configuration, logger: logger) } catch {
            starting?.cancel()
            throw CLIError("\(error)")
        }
        let signalSources = [stoppingSource(SIGTERM, manager, notifyFailed, starting), stoppingSource(SIGINT, manager, notifyFailed, starting),
                             reloadSource(node, manager, logger: logger, notifyFailed)]
        try await node.run { peer, api in
            let apiURL = "https://\(HostPort(host: configuration.apiListen.host, port: api.port ?? configuration.apiListen.port))"
            announce.notice("node listening", metadata: ["peer": "\(peer)", "api": "\(apiURL)"])
            // One line on standard output for scripts: the node is ready.
            FileHandle.standardOutput.write(Data("quartet node \(configuration.node) listening: peer \(configuration.peerListen.host):\(peer.port ?? 0), api \(apiURL)\n".utf8))
            starting?.cancel()
            manager.send("READY=1\nSTATUS=listening: peer port \(peer.port ?? 0), api \(apiURL)", error: notifyFailed)
        }
        starting?.cancel()
        signalSources.forEach { $0.cancel() }
    }

    /// Tells systemd `STOPPING=1` as soon as `signal` arrives. The service group's own source
    /// for the same signal (it ignores the default action) still begins the graceful shutdown:
    /// libdispatch delivers a signal to every source registered for it.
    func stoppingSource(_ signal: Int32, _ manager: ServiceNotifier, _ failed: @escaping @Sendable (String) -> Void,
                        _ starting: StartTimeoutExtender? = nil) -> any DispatchSourceSignal {
        let source = DispatchSource.makeSignalSource(signal: signal, queue: .global())
        source.setEventHandler {
            starting?.cancel()
            manager.send("STOPPING=1\nSTATUS=stopping", error: failed)
        }
        source.resume()
        return source
    }

    /// SIGHUP (`systemctl reload quartet@NODE`, ExecReload): `RELOADING=1` with the monotonic
    /// time, `Node.reload` (the federation file and the certificate read again), then
    /// `READY=1` with the outcome. A refused reload leaves the node as it was. SIGHUP's default
    /// action (terminate) is ignored (at the start of `run`, and again here so the handler does
    /// not depend on that).
    func reloadSource(_ node: Node, _ manager: ServiceNotifier, logger: Logger, _ failed: @escaping @Sendable (String) -> Void) -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler {
            manager.send("RELOADING=1\n" + ServiceNotifier.monotonicMicroseconds(), error: failed)
            logger.notice("reload requested")
            let status: String
            do {
                let report = try node.reload()
                logger.notice("reload done", metadata: ["report": "\(report)"])
                status = "reloaded: \(report)"
            } catch {
                logger.error("reload refused; the node goes on as it was (the error says which tokens, if any, are refused all the same)", metadata: ["error": "\(error)"])
                status = "reload refused: \(error)"
            }
            manager.send("READY=1\nSTATUS=\(status.split(separator: "\n").joined(separator: " ").prefix(400))", error: failed)
        }
        source.resume()
        return source
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension NodeConfiguration.LogFormat: ExpressibleByArgument {}

/// Unblocks SIGTERM, SIGINT and SIGHUP for this thread so the signal sources of the service group fire.
func unblockShutdownSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGHUP)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

/// A timer telling systemd to wait 60 s more, every 20 s, while the node opens: the first
/// message is sent before `init` returns (so it comes before `READY=1`), none is sent once
/// cancelled (a lock and a flag: a handler already running when `cancel` is called sends
/// nothing after), and none after an hour (a start that hangs is still ended by systemd).
final class StartTimeoutExtender: @unchecked Sendable {
    private let timer: any DispatchSourceTimer
    private let lock = NSLock()
    private var done = false
    private let started = ContinuousClock.now
    static let message = "EXTEND_TIMEOUT_USEC=60000000\nSTATUS=starting: opening the data directory (a format migration or the view's first fold can take minutes)"

    init(_ manager: ServiceNotifier, _ failed: @escaping @Sendable (String) -> Void) {
        timer = DispatchSource.makeTimerSource(queue: .global())
        _ = manager.send(Self.message, error: failed)
        timer.schedule(deadline: .now() + .seconds(20), repeating: .seconds(20))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            self.lock.lock()
            defer { self.lock.unlock() }
            guard !self.done, ContinuousClock.now - self.started < .seconds(3600) else { return }
            _ = manager.send(Self.message, error: failed)
        }
        timer.resume()
    }

    func cancel() {
        lock.lock()
        done = true
        lock.unlock()
        timer.cancel()
    }
}

/// Watches the read end of a supervisor's lifeline (`--lifeline-fd`, QuartetHarness.Lifeline)
/// when given: once the supervisor ends, however it ends, say `message` and stop as a SIGTERM
/// stops this process (SIGKILL after 20 s).
func watchLifeline(_ descriptor: Int32?, saying message: String) throws {
    guard let descriptor else { return }
    do {
        try Lifeline.watch(descriptor: descriptor) {
            FileHandle.standardError.write(Data((message + "\n").utf8))
            Lifeline.stopSelf(grace: .seconds(20))
        }
    } catch { throw CLIError("--lifeline-fd: \(error)") }
}

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
            directory is closed. Replication is not built yet: the peer port authenticates \
            federation members and holds their connections, nothing more.
            """)

    @Option(help: "The node configuration file (JSON).") var config: String
    @Option(help: "Override the configuration's log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level?
    @Option(help: .hidden) var lifelineFd: Int32?

    func run() async throws {
        // Started by a supervisor (`quartet demo`, a benchmark, a test) with the read end of its
        // lifeline: when the supervisor ends, however it ends, stop too (QuartetHarness.Lifeline).
        if let lifelineFd {
            do {
                try Lifeline.watch(descriptor: lifelineFd) {
                    FileHandle.standardError.write(Data("quartet serve: the process that started this node has ended; stopping\n".utf8))
                    Lifeline.stopSelf(grace: .seconds(20))
                }
            } catch { throw CLIError("--lifeline-fd: \(error)") }
        }
        let configuration: NodeConfiguration
        do { configuration = try NodeConfiguration.load(path: config) } catch { throw CLIError("\(error)") }
        let level = logLevel ?? configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "quartet")
        logger[metadataKey: "node"] = "\(configuration.node)"
        // A parent (a test runner, a supervisor) may have blocked these; a daemon must see them.
        unblockShutdownSignals()
        let node: Node
        do { node = try Node(configuration: configuration, logger: logger) } catch { throw CLIError("\(error)") }
        // SIGHUP: read the federation file and the certificate again (Node.reload).
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        let reloadLogger = logger
        hangup.setEventHandler {
            do {
                let report = try node.reload()
                reloadLogger.notice("reload done", metadata: ["report": "\(report)"])
            } catch {
                reloadLogger.error("reload refused; the node goes on as it was", metadata: ["error": "\(error)"])
            }
        }
        hangup.resume()
        defer { hangup.cancel() }
        let announce = logger
        try await node.run { peer, api in
            let apiURL = "https://\(HostPort(host: configuration.apiListen.host, port: api.port ?? configuration.apiListen.port))"
            announce.notice("node listening", metadata: ["peer": "\(peer)", "api": "\(apiURL)"])
            // One line on standard output for scripts: the node is ready.
            FileHandle.standardOutput.write(Data("quartet node \(configuration.node) listening: peer \(configuration.peerListen.host):\(peer.port ?? 0), api \(apiURL)\n".utf8))
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Unblocks SIGTERM and SIGINT for this thread so the signal sources of the service group fire.
func unblockShutdownSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGHUP)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

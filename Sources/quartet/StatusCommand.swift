import ArgumentParser
import Foundation
import QuartetAPI
import QuartetNode

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "A running node's peers (connected or not, since when) and logs (size, how far behind the origin).",
        discussion: """
            Asks the node's API, authenticating with the node's own certificate from the \
            configuration file. "behind" is how many entries the largest checkpoint of the log \
            this node has seen (from its origin, directly or relayed) is ahead of what it holds.
            """)

    @Option(help: "The node configuration file.") var config: String
    @OptionGroup var output: FormatOptions

    func run() async throws {
        let configuration: NodeConfiguration
        do { configuration = try NodeConfiguration.load(path: config) } catch { throw CLIError("\(error)") }
        // As the client commands read a node's configuration (the wildcard address dialled as 127.0.0.1).
        let target = ClientConfiguration(configuration)
        let client = try APIClient(certificate: configuration.certificate, key: configuration.privateKey, ca: configuration.caCertificate,
                                   node: configuration.node, address: target.address, revocationLists: try target.clientRevocationLists())
        let peers: PeersResponse, logs: LogsResponse
        do {
            peers = try await client.peers()
            logs = try await client.logs()
        } catch let error as APIClientError {
            throw CLIError("\(error)")
        } catch {
            throw CLIError("cannot reach node \(configuration.node) at https://\(configuration.apiListen): \(error) (is `quartet serve --config \(config)` running?)")
        }
        switch output.format {
        case .json:
            printJSON(StatusOutput(node: configuration.node, peers: peers.peers, logs: logs.logs.map(StatusOutput.Log.init)))
        case .text:
            print("node \(configuration.node)")
            print("peers:")
            for peer in peers.peers {
                let name = peer.node.padding(toLength: 17, withPad: " ", startingAt: 0)
                print("  \(name) \(peer.connected ? "connected since \(peer.since ?? "?")" : "not connected")  (\(peer.peer))")
            }
            print("logs:")
            for log in logs.logs {
                let name = log.log.padding(toLength: 17, withPad: " ", startingAt: 0)
                var line = "  \(name) \(log.size) entries"
                if log.own { line += " (own)" } else { line += log.behind > 0 ? ", \(log.behind) behind the origin" : ", up to date with what it has seen" }
                if log.quarantined { line += ", QUARANTINED (equivocation)" }
                if log.disowned == true { line += ", DISOWNED (holds a checkpoint signed past a key revocation: recover this node)" }
                print(line)
            }
        }
    }
}

/// `quartet status --format json`: the peers as the API has them, and each log's replication
/// state.
struct StatusOutput: Encodable {
    struct Log: Encodable {
        var log: String
        var size: UInt64
        var root: String?
        var own, quarantined: Bool
        /// Present (true) when the copy is disowned (finding 219).
        var disowned: Bool?
        var behind: UInt64
        var originSizeSeen: UInt64?
        var checkpointTime: String?

        init(_ log: LogsResponse.Log) {
            self.log = log.log
            size = log.size
            root = log.root
            own = log.own
            quarantined = log.quarantined
            disowned = log.disowned
            behind = log.behind
            originSizeSeen = log.originSizeSeen
            checkpointTime = log.checkpointTime
        }

        enum CodingKeys: String, CodingKey {
            case log, size, root, own, quarantined, disowned, behind
            case originSizeSeen = "origin_size_seen", checkpointTime = "checkpoint_time"
        }
    }

    var node: String
    var peers: [PeersResponse.Peer]
    var logs: [Log]
}

/// Each line this file prints comes from the node's answer: escaped (`TerminalText`).
private func print(_ line: String) { Swift.print(TerminalText.escaped(line)) }

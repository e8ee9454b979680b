import ArgumentParser
import Foundation
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
        let host = ["0.0.0.0", "::", "[::]"].contains(configuration.apiListen.host) ? "127.0.0.1" : configuration.apiListen.host
        let client = try APIClient(certificate: configuration.certificate, key: configuration.privateKey, ca: configuration.caCertificate,
                                   node: configuration.node, address: HostPort(host: host, port: configuration.apiListen.port))
        let peers: [String: Any], logs: [String: Any]
        do {
            peers = try await fetch(client, "/v1/peers")
            logs = try await fetch(client, "/v1/logs")
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("cannot reach node \(configuration.node) at https://\(configuration.apiListen): \(error) (is `quartet serve --config \(config)` running?)")
        }
        let peerList = peers["peers"] as? [[String: Any]] ?? []
        let logList = logs["logs"] as? [[String: Any]] ?? []
        switch output.format {
        case .json:
            printJSON(["node": configuration.node, "peers": peerList, "logs": logList.map { log in
                log.filter { ["log", "size", "root", "own", "quarantined", "behind", "origin_size_seen", "checkpoint_time"].contains($0.key) }
            }])
        case .text:
            print("node \(configuration.node)")
            print("peers:")
            for peer in peerList {
                let connected = peer["connected"] as? Bool == true
                let name = (peer["node"] as? String ?? "?").padding(toLength: 17, withPad: " ", startingAt: 0)
                print("  \(name) \(connected ? "connected since \(peer["since"] as? String ?? "?")" : "not connected")  (\(peer["peer"] as? String ?? ""))")
            }
            print("logs:")
            for log in logList {
                let name = (log["log"] as? String ?? "?").padding(toLength: 17, withPad: " ", startingAt: 0)
                let size = log["size"] as? Int ?? 0
                let behind = log["behind"] as? Int ?? 0
                var line = "  \(name) \(size) entries"
                if log["own"] as? Bool == true { line += " (own)" } else { line += behind > 0 ? ", \(behind) behind the origin" : ", up to date with what it has seen" }
                if log["quarantined"] as? Bool == true { line += ", QUARANTINED (equivocation)" }
                print(line)
            }
        }
    }

    func fetch(_ client: APIClient, _ path: String) async throws -> [String: Any] {
        let (status, body) = try await client.get(path)
        guard status == 200, let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw CLIError("GET \(path) answered \(status): \(String(decoding: body, as: UTF8.self))")
        }
        return object
    }
}

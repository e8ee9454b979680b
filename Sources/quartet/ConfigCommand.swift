import ArgumentParser
import Foundation
import QuartetNode

/// `quartet config check`: a node's configuration checked offline (QuartetNode's
/// `ConfigurationCheck`), every problem printed with its file and key.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Check a node's configuration.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check", abstract: "Check a configuration and the files it names, offline; exit 1 on any error.",
            discussion: """
                Checks, and lists every problem with the file and key it concerns: the JSON and its \
                keys; the CA and node certificates (readable, in date, the node's issued by the CA, \
                naming quartet://node/NODE; expiry within 30 days is a warning); the key (matches the \
                certificate, not readable by every user); the federation file (signed by a quorum, no older than the \
                data directory's accepted one, listing this node with its log); the data directory \
                (there, this user's, mode 700, holding the log and the key the federation file pins); \
                and the listen addresses (distinct; one that cannot be bound now is a warning — the \
                node may be running). Nothing is changed.
                """)

        @Option(help: "The node's configuration file.") var config: String
        @Flag(help: "Do not try to bind the listen addresses.") var noPorts = false
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let problems = ConfigurationCheck.run(path: config, probePorts: !noPorts)
            let errors = problems.filter { $0.severity == .error }.count
            switch output.format {
            case .json:
                printJSON(["config": config, "ok": errors == 0,
                           "problems": problems.map { ["severity": $0.severity.rawValue, "place": $0.place, "message": $0.message] }] as [String: Any])
            case .text:
                // Escaped: a problem quotes the files' own text (a node id, an unknown key's
                // name), and a federation file is another member's (finding 299).
                for problem in problems { print(TerminalText.escaped("\(problem)")) }
                print(errors == 0 ? "\(config): configuration OK" + (problems.isEmpty ? "" : " (\(problems.count) warning\(problems.count == 1 ? "" : "s"))")
                                  : "\(config): \(errors) error\(errors == 1 ? "" : "s"), \(problems.count - errors) warning\(problems.count - errors == 1 ? "" : "s")")
            }
            if errors > 0 { throw ExitCode(1) }
        }
    }
}

import ArgumentParser
import QuartetNode
import QuartetStore

/// `quartet version`: what an operator checks before and after an upgrade — the binary's
/// version, the replication protocol versions it speaks and the data directory formats it
/// reads (docs/operations.md, "Upgrades").
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the binary, replication protocol and data directory format versions.",
        discussion: """
            A node speaks its protocol version and every one before it back to 1, and agrees with each peer \
            on the highest both speak; it migrates a data directory of the previous format at \
            start (after copying it aside) and refuses one of a newer format. So members upgrade \
            one at a time.
            """)

    @OptionGroup var output: FormatOptions

    func run() async throws {
        let binary = Quartet.configuration.version
        switch output.format {
        case .json:
            let spoken = NodeConfiguration.protocolVersions
            let protocolVersions: [String: Int] = ["current": Int(spoken.upperBound), "oldest": Int(spoken.lowerBound)]
            let formats: [String: Int] = ["current": Schema.formatVersion, "oldest": Schema.oldestMigrated]
            let report: [String: Any] = ["version": binary, "protocol": protocolVersions, "format": formats]
            printJSON(report)
        case .text:
            print("quartet \(binary)")
            let spoken = NodeConfiguration.protocolVersions
            print("replication protocol \(spoken.upperBound) (also speaks \(spoken.lowerBound) to \(spoken.upperBound))")
            print("data directory format \(Schema.formatVersion) (migrates \(Schema.oldestMigrated)...\(Schema.formatVersion) at start)")
        }
    }
}

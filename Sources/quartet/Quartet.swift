import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import QuartetHarness
import QuartetNode

@main
struct Quartet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quartet",
        abstract: "Signed action-plan ledgers for the UK occupational therapy workforce strategy.",
        discussion: """
            Offline commands work on a data directory (--data DIR); `serve` runs a node from a \
            configuration file; `import`, `record`, `view` and `status` talk to a running node's \
            API; `demo` runs a five-node federation on loopback with the seed plans.
            """,
        version: "0.3.11",
        subcommands: [
            InitCommand.self, AppendCommand.self, LogCommand.self, CheckpointCommand.self,
            KeyCommand.self, ProofCommand.self, VerifyCommand.self, PKICommand.self, FederationCommand.self, ConfigCommand.self, BackupCommand.self, RecoverCommand.self, ServeCommand.self, DemoCommand.self, StatusCommand.self,
            ImportCommand.self, RecordCommand.self, ViewCommand.self, TokenCommand.self, AgreementCommand.self, AuditCommand.self, PolicyCommand.self, VerifyCheckpointCommand.self, VerifyFigureCommand.self, BenchCommand.self, DevCommand.self, VersionCommand.self,
        ]
    )

    /// Files the tool makes (keys, tokens in demo.json, the database, its -wal and -shm) are
    /// the user's alone from the moment they exist: no window between create and chmod.
    /// Files meant to be shared (certificates) are given their mode explicitly.
    static func main() async {
        umask(0o077)
        // A node runs Swift concurrency on NIO's event loop threads: a request's handler then
        // runs where its connection's I/O does, without a hop to the global pool and back per
        // request (docs/architecture.md, "The API path"). QUARTET_EXECUTOR=dispatch keeps
        // Swift's own pool (to compare, or should a platform refuse the hook).
        if CommandLine.arguments.dropFirst().first == "serve", ProcessInfo.processInfo.environment["QUARTET_EXECUTOR"] != "dispatch" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        // Parsed as ArgumentParser's own `main` does; the errors of running a command are
        // printed escaped (below).
        let command: any ParsableCommand
        do { command = try parseAsRoot(nil) } catch { exit(withError: error) }
        // No core dump of a command that reads a signing key, a CA's key or a token (`recover`
        // runs a whole node for up to an hour, by hand): every command but `serve`, which
        // forbids its own unless `--allow-core-dumps` (finding 294).
        if !(command is ServeCommand) {
            do { try CoreDumps.forbid() } catch { FileHandle.standardError.write(Data("quartet: warning: \(error)\n".utf8)) }
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand { try await asyncCommand.run() } else {
                var command = command
                try command.run()
            }
        } catch {
            exit(withError: Self.printable(error))
        }
    }

    /// An error of a running command as it may be printed: ArgumentParser's own (an exit code,
    /// a usage error) as they are, any other with its text escaped line by line
    /// (`TerminalText`), since much of it comes from a node's answer or a file — a refusal's
    /// message, a field name in a decoding error — which must not drive the terminal.
    static func printable(_ error: any Error) -> any Error {
        // ArgumentParser's own, help among them (`--help` runs its help command, which throws).
        if error is ExitCode || error is CleanExit || error is ValidationError || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { return error }
        let text = "\(error)".split(separator: "\n", omittingEmptySubsequences: false).map { TerminalText.escaped(String($0)) }.joined(separator: "\n")
        return CLIError(text)
    }
}

/// Output format shared by every command.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "The node's data directory.")
    var data: String
}

struct FormatOptions: ParsableArguments {
    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text
}

/// Prints a JSON value (dictionaries, arrays, strings, numbers) with sorted keys: the
/// benchmarks' reports, whose fields are free-form measurements.
func printJSON(_ value: Any) {
    let data = try! JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

/// Prints a typed value (the API's bodies, a command's output, a benchmark's report) as indented
/// JSON with sorted keys; `snakeCaseKeys` turns property names into snake_case keys
/// (`ratePerSecond` → `rate_per_second`), as the benchmarks' reports have them.
func printJSON<Value: Encodable>(_ value: Value, snakeCaseKeys: Bool = false) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
    if snakeCaseKeys { encoder.keyEncodingStrategy = .convertToSnakeCase }
    FileHandle.standardOutput.write(try! encoder.encode(value) + Data("\n".utf8))
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// A command failure that is not a usage error: printed as `Error: ...`, exit status 1.
/// A command that writes a data directory runs as its owner (the node's user): root writing
/// there would leave files the node cannot read, and could be led by what the node wrote there
/// (a planted symlink) to write elsewhere. A directory not there yet is the caller's to make.
func requireDataDirectoryOwner(_ path: String, command: String) throws {
    var owner = stat()
    guard stat(path, &owner) == 0 else { return }
    guard owner.st_uid == geteuid() else {
        throw CLIError("quartet \(command) runs as the data directory's owner, user \(owner.st_uid) (sudo -u <that user> quartet \(command) …); this is user \(geteuid())")
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

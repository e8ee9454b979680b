import ArgumentParser
import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetStore
#if canImport(Glibc)
import Glibc
#endif

/// `quartet recover`: rebuilds a node's lost data directory from the federation (issue 15,
/// docs/operations.md "Lost disk"). The node runs in this process with an empty directory: it
/// takes its own log back from peers before it could append (`OwnLogSync`), asks other peers
/// for payloads that came back as stubs (`PayloadBackfill`), takes every replica as a new
/// member would, and stops once it holds everything the peers showed. Everything it stores is
/// verified as replication always verifies it (signatures against the pinned keys, leaves
/// against the signed roots, payloads against their commitments).
struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover", abstract: "Rebuild a lost data directory from the federation's copies: the own log and every replica, verified.",
        discussion: """
            The data directory named by --config must not exist or be empty (recover never \
            overwrites), or what an interrupted recover left there (it starts over). --key is \
            this node's log signing key from the operator's key backup: the key the federation \
            file names (its current_vkey once the log rotated, else the pinned key). Runs the node in this process until it \
            holds its own log and every replica to the largest checkpoint any peer shows, then \
            stops and reports per log what came back and from whom, and, for the own log, the \
            indices whose payload no peer held in full (they stay as stubs; the log verifies). \
            Start the node with `quartet serve` afterwards: it appends after the federation's \
            latest checkpoint of its log. --dry-run asks each peer what it holds and writes nothing.
            """)

    @Option(help: "The node's configuration file.") var config: String
    @Option(help: "This node's log signing key (PKCS#8 PEM) from the operator's key backup.") var key: String?
    @Flag(help: "Only ask the peers what they hold and say what would come back; write nothing.") var dryRun = false
    @Option(help: "Seconds to wait for a first peer to answer, and at most between two steps of progress.") var timeout: Int = 60
    @Option(help: "Log level of the node while it recovers.") var logLevel: Logger.Level = .warning
    @Option(help: "Peers that must say what they hold of this node's log (as `serve --peer-answers`; default: as many as meet every witness quorum of it).")
    var peerAnswers: Int?
    @OptionGroup var output: FormatOptions

    func run() async throws {
        guard (1...3600).contains(timeout) else { throw ValidationError("--timeout must be 1 to 3600 seconds") }
        if let peerAnswers, !(1...1_000).contains(peerAnswers) { throw ValidationError("--peer-answers must be from 1 to 1,000") }
        let configuration: NodeConfiguration
        do {
            var loaded = try NodeConfiguration.load(path: config)
            loaded.onlyCopy = false  // The whole point is to learn from peers.
            loaded.peerAnswers = peerAnswers
            configuration = loaded
        } catch { throw CLIError("\(error)") }
        try requireDataDirectoryOwner(configuration.dataDirectory, command: "recover")
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "quartet.recover")
        let plan = try Recovery.plan(configuration)
        let signingKey = try key.map(SigningKeyFile.read)
        if let signingKey { try Recovery.check(key: signingKey, plan: plan, keyFile: key!) }
        if dryRun {
            try await RecoverDryRun(configuration: configuration, plan: plan, format: output.format).run(timeout: timeout, logger: logger)
            return
        }
        guard let signingKey else { throw ValidationError("--key is required (this node's log signing key from the operator's key backup), or give --dry-run") }
        if try Recovery.checkEmpty(configuration, clearUnfinished: true) {
            FileHandle.standardError.write(Data("quartet recover: \(configuration.dataDirectory) held a recovery that did not finish; starting it over\n".utf8))
        }
        let created = try Recovery.prepare(configuration, plan: plan, key: signingKey)
        let started = ContinuousClock.now
        let status: RecoveryStatus
        let stopped: Bool
        do {
            (status, stopped) = try await recover(configuration, logger: logger)
        } catch let error as NotStopped {
            // Failed, and the node may still be writing: nothing is removed under it.
            throw CLIError("\(error.reason); the recovering node did not stop within 30 s, so \(configuration.dataDirectory) stays marked as an unfinished recovery (serve refuses it): end this process and run recover again")
        } catch {
            Recovery.discard(configuration, created: created)
            throw CLIError("\(error) (nothing is kept in \(configuration.dataDirectory); run recover again once peers are reachable)")
        }
        let seconds = (ContinuousClock.now - started).seconds
        // A node that did not stop may still be writing: the directory stays marked unfinished.
        guard stopped else {
            throw CLIError("the recovering node did not stop within 30 s; \(configuration.dataDirectory) stays marked as an unfinished recovery (serve refuses it): end this process and run recover again")
        }
        try Recovery.finish(configuration)
        let report = try RecoverReport(configuration: configuration, plan: plan, status: status, seconds: seconds)
        report.print(format: output.format)
        // The key given was the federation file's word on the log; the log itself (its
        // rotations, now held) may have moved on: `serve` would keep it closed to appends.
        if let problem = try Self.keyProblem(configuration, log: plan.member.log) {
            throw CLIError("recovered, but \(problem); `serve` keeps the log closed to appends until \(configuration.dataDirectory)/keys/\(plan.member.log).pem is that key (from the operator's key backup; the directory is kept)")
        }
    }

    /// Why the recovered directory's signing key cannot sign its log now: the key in force
    /// after the log's rotations is another. nil when it is the key in force.
    static func keyProblem(_ configuration: NodeConfiguration, log name: String) throws -> String? {
        let store = try LedgerStore.open(DataDirectory(path: configuration.dataDirectory), mode: .reader)
        defer { try? store.close() }
        let log = try store.log(named: name)
        let chain = try store.keyChain(log)
        let key = try store.directory.readSigningKey(log: name)
        guard key.publicKey != chain.current else { return nil }
        return "the key given (\(NoteVerifier(name: log.origin, publicKey: key.publicKey).vkey)) is not the key in force after the log's \(chain.rotations.count) rotation\(chain.rotations.count == 1 ? "" : "s") (\(NoteVerifier(name: log.origin, publicKey: chain.current).vkey))"
    }

    /// Runs the node until it holds everything the peers show; returns where it stood then, and
    /// whether the node stopped.
    func recover(_ configuration: NodeConfiguration, logger: Logger) async throws -> (RecoveryStatus, stopped: Bool) {
        let node = try Node(configuration: configuration, logger: logger, foldsView: false)
        let ended = NIOLockedValueBox(false)
        let shutdown = NodeShutdown()
        let task = Task {
            defer { ended.withLockedValue { $0 = true } }
            try await node.run(handleSignals: false, shutdown: shutdown)
        }
        // When to stop waiting (`RecoveryWatch`): once the own log is whole the rest gets at most
        // `timeout` more, progress or not; nothing moving for `timeout` ends it either way.
        var watch = RecoveryWatch(limit: .seconds(timeout), now: .now)
        var result: Result<RecoveryStatus, any Error>
        polling: while true {
            try? await Task.sleep(for: .milliseconds(100))
            let status = node.recoveryStatus()
            switch watch.next(status, now: .now) {
            case .wait: break
            case .finished: result = .success(status); break polling
            case .failed(let reason): result = .failure(CLIError(reason)); break polling
            }
            if ended.withLockedValue({ $0 }) {
                // Its error says why (a port in use: is the node itself still running?).
                do { try await task.value; result = .failure(CLIError("the node stopped before it had recovered")) } catch { result = .failure(error) }
                break
            }
        }
        await shutdown.trigger()
        // Everything stored is durable at its commit; a node slow to stop, or an error while it
        // stops, changes nothing of it.
        let stopBy = ContinuousClock.now + .seconds(30)
        while !ended.withLockedValue({ $0 }) && ContinuousClock.now < stopBy { try? await Task.sleep(for: .milliseconds(100)) }
        let stopped = ended.withLockedValue { $0 }
        if stopped {
            do { try await task.value } catch { logger.warning("the node reported an error while stopping", metadata: ["error": "\(error)"]) }
        } else if case .failure(let error) = result {
            // A failure must not discard a directory the node may still write to.
            throw NotStopped(reason: "\(error)")
        }
        return (try result.get(), stopped)
    }

    /// The recovery failed and the node did not stop in time.
    struct NotStopped: Error { var reason: String }
}

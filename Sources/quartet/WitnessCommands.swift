import ArgumentParser
import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
import QuartetPlan
import QuartetStore

/// `quartet policy`: the federation's C2SP tlog-policy file (docs/witness.md).
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Write the C2SP tlog-policy of the federation's logs and witnesses.",
        discussion: """
            With --log, the policy of that log: its key, the witnesses of every other member, and a \
            quorum of a majority of them (so two conflicting checkpoints can never both gather one \
            while a majority is honest). Without --log, every log and every witness, and one quorum \
            for all: a log's own node is among the witnesses and may cosign its own forks, so the \
            quorum is one more than a majority of the others (4 of 5 in the demo): two conflicting \
            checkpoints of one log still share as many honest witnesses as under its own policy. \
            Each node cosigns its own log's checkpoints too, so an honest checkpoint meets it with \
            one other witness down. \
            --quorum sets another threshold (below that one, a warning says what it gives up).
            """)

    @Option(help: "The federation file.") var federation: String
    @Option(help: "Only this log (a node's log name).") var log: String?
    @Option(help: "The number of witnesses that must cosign (default: a majority of the log's witnesses; without --log, one more than a majority of each log's others).") var quorum: Int?

    func run() async throws {
        // Read by the rules of any version a node may run (a data directory's accepted copy from
        // before finding 215's rules too): the policy takes each `api`'s scheme, host and port
        // only (`origin(ofAPI:)`).
        let federation = try Federation.load(path: federation, accepted: true)
        print(try Self.policy(federation, log: log, quorum: quorum).text, terminator: "")
    }

    /// `https://HOST[:PORT]` of a member's `api`: whatever followed (a path, query or fragment a
    /// file accepted before finding 215 may hold) never reaches a policy's log URL.
    static func origin(ofAPI api: String) -> String {
        let rest = api.hasPrefix("https://") ? api.dropFirst("https://".count) : Substring(api)
        return "https://" + rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
    }

    static func policy(_ federation: Federation, log: String?, quorum: Int?) throws -> WitnessPolicy {
        var logs = federation.members
        if let log {
            guard let member = federation.members.first(where: { $0.log == log }) else {
                throw ValidationError("the federation file has no log \(log) (it has \(federation.members.map(\.log).joined(separator: ", ")))")
            }
            logs = [member]
        }
        // A log whose key the federation revoked, with no current key named: a policy naming
        // that key would accept what a thief of it signs. Otherwise the key in force is named
        // (`current_vkey` once the log has rotated).
        let revoked = logs.filter(\.signingKeyRevoked)
        if let log, let member = revoked.first {
            throw ValidationError("log \(log)'s key \(member.signingVerifier.vkey) is revoked (after size \(member.revoked[member.signingVerifier.publicKey]!)) and the federation file names no current_vkey for it (quartet key current), so no policy is written for it")
        }
        for member in revoked {
            FileHandle.standardError.write(Data("quartet policy: left out log \(member.log): its key is revoked and the federation file names no current_vkey for it\n".utf8))
        }
        logs.removeAll(where: \.signingKeyRevoked)
        let witnesses = federation.members.filter { m in m.witness != nil && !(log != nil && m.log == log) }
        guard !witnesses.isEmpty else {
            throw ValidationError("no member lists a witness key in the federation file; add each node's `quartet key witness-vkey` as its \"witness\"")
        }
        // One quorum for every log of the file: where a log's own node witnesses too, it counts
        // towards its own checkpoints, so the threshold is one more than a majority of the
        // others (the per-log quorum): any two quorums then share a majority's overlap of
        // witnesses besides the log's own, and no log can show two histories to readers of
        // this file that it could not show under its own policy.
        let ownWitness = log == nil && logs.contains { l in witnesses.contains { $0.id == l.id } }
        let safe = ownWitness ? WitnessPolicy.majority(of: witnesses.count - 1) + 1 : WitnessPolicy.majority(of: witnesses.count)
        guard safe <= witnesses.count else {
            throw ValidationError("a policy for every log needs a quorum of \(safe) witnesses, and the federation file lists \(witnesses.count); write one per log with --log")
        }
        let k = quorum ?? safe
        guard (1...witnesses.count).contains(k) else { throw ValidationError("--quorum must be from 1 to \(witnesses.count), the witnesses listed") }
        if k < safe {
            FileHandle.standardError.write(Data("quartet policy: warning: a quorum of \(k) \(ownWitness ? "counts each log's own node's witness, so a log and \(k - 1) other witness\(k == 2 ? "" : "es") can" : "lets a minority of the witnesses") cosign a second history; \(safe) would not\n".utf8))
        }
        // Witnesses and groups share one namespace in a policy, and `none` is the spec's own name
        // (never a witness's): the group takes a name no member has.
        if witnesses.contains(where: { $0.id == "none" }) {
            throw CLIError("a member is called `none`, which a C2SP tlog-policy file reserves (\"none\" is a quorum of no one): no policy naming it as a witness can be parsed")
        }
        let ids = Set(witnesses.map(\.id))
        let group = (["members"] + (2...(ids.count + 2)).map { "members-\($0)" }).first { !ids.contains($0) }!
        return WitnessPolicy(logs: logs.map(\.signingVerifier), logURLs: logs.map { Self.origin(ofAPI: $0.api) + "/v1/logs/" + $0.log },
                             witnesses: witnesses.map { .init(name: $0.id, verifier: $0.witness!, url: Self.origin(ofAPI: $0.api) + "/witness") },
                             groups: [.init(name: group, threshold: k, members: witnesses.map(\.id))], quorum: group)
    }
}

/// `quartet verify-checkpoint`: checks a (cosigned) checkpoint against a policy, offline.
struct VerifyCheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-checkpoint",
        abstract: "Check a checkpoint against a C2SP tlog-policy file: a log's signature and a quorum of witness cosignatures. No node is involved.")

    @Option(help: "The policy file (`quartet policy` writes the federation's).") var policy: String
    @Argument(help: "The signed checkpoint (a file, or - for standard input), as GET /v1/logs/{log}/checkpoint serves it.") var note: String
    @Option(help: "Fail unless the policy's quorum cosigned the checkpoint as the newest it had seen within this many seconds (a node may serve an old checkpoint a quorum did cosign).")
    var maxAge: UInt64?
    @OptionGroup var output: FormatOptions

    struct Report: Encodable {
        var origin: String
        var size: UInt64
        var root: String
        var log: String
        var witnesses: [String: UInt64]
        var quorum: String
        /// The latest time by which the quorum's witnesses each saw this as the newest tree
        /// (`WitnessPolicy.quorumTime`; nil with quorum none).
        var quorumTime: UInt64?
        /// Lines by a listed witness's key that do not verify, not counted ("name: reason").
        var refused: [String]
    }

    func run() async throws {
        // Both read only up to their limits (a 500 MB "note" is refused having read 64 KiB), and a
        // checkpoint that fails is a failure (exit 1), not a usage error.
        let parsed = try Self.readPolicy(policy)
        let data = try Self.read(note, limit: SignedNote.maxLength, what: "a signed note")
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(note): not UTF-8") }
        let signed: SignedNote
        do { signed = try SignedNote(parsing: text) } catch { throw CLIError("\(note): \(error.message)") }
        let verified: WitnessPolicy.Verified
        do { verified = try parsed.verify(signed) } catch { throw CLIError("\(note): \(error.message)") }
        let quorum = parsed.quorum.map { q in parsed.groups.first { $0.name == q }.map { "\($0.threshold) of \($0.members.joined(separator: ", "))" } ?? q } ?? "none"
        let quorumTime = parsed.quorumTime(verified.witnesses)
        let now = wallClockMillis() / 1000
        if let maxAge {
            guard parsed.quorum != nil else { throw CLIError("--max-age: the policy's quorum is none, so no witness vouches for when this was the newest") }
            if let refusal = Self.ageRefusal(quorumTime: quorumTime, now: now, maxAge: maxAge) { throw CLIError("\(note): \(refusal)") }
        }
        switch output.format {
        case .json:
            printJSON(Report(origin: verified.checkpoint.origin, size: verified.checkpoint.size, root: verified.checkpoint.root.base64,
                             log: verified.log, witnesses: verified.witnesses, quorum: quorum, quorumTime: quorumTime, refused: verified.refused), snakeCaseKeys: true)
        case .text:
            // The origin and witness names come from the note and the policy file: escaped.
            print(TerminalText.escaped("ok: \(verified.checkpoint.origin) size \(verified.checkpoint.size) root \(verified.checkpoint.root.base64)"))
            let signers = verified.witnesses.sorted { $0.key < $1.key }.map { "\($0.key) at \(Self.shown($0.value))" }
            print(TerminalText.escaped("cosigned by \(signers.joined(separator: ", ")) (quorum: \(quorum))"))
            // Met without them, but someone made these up or mangled them on the way.
            for line in verified.refused { print(TerminalText.escaped("warning: not counted, a line by the key of \(line)")) }
            if let quorumTime {
                // Each cosignature says: as of its time, the largest tree its witness had seen.
                print(TerminalText.escaped("the quorum's witnesses had seen no larger tree as late as \(Self.shown(quorumTime)) (\(ViewQueries.age(Double(now > quorumTime ? now - quorumTime : 0))) ago); a node can serve an old checkpoint a quorum did cosign (--max-age checks)"))
            }
        }
    }

    /// Why `--max-age` refuses a checkpoint whose quorum cosigned it as the newest at
    /// `quorumTime` (nil: fresh enough). A time more than `aheadAllowed` past this clock is no
    /// proof of freshness either (witnesses' clocks ran fast, or they were made to).
    static func ageRefusal(quorumTime: UInt64?, now: UInt64, maxAge: UInt64) -> String? {
        guard let quorumTime else { return "the policy's quorum did not cosign it" }
        if quorumTime > now {
            return quorumTime - now <= aheadAllowed ? nil
                : "the quorum's cosignatures are dated \(shown(quorumTime)), more than \(aheadAllowed) s ahead of this clock: they say nothing of how fresh it is"
        }
        guard now - quorumTime > maxAge else { return nil }
        return "the quorum last cosigned this checkpoint as the newest at \(shown(quorumTime)), \(ViewQueries.age(Double(now - quorumTime))) ago, more than --max-age \(maxAge) s: the node may be showing an old state of the log"
    }

    /// How far ahead of this clock a cosignature time may be (a node takes 10 minutes of skew).
    static let aheadAllowed: UInt64 = 600

    /// A cosignature time (POSIX seconds) as UTC.
    static func shown(_ seconds: UInt64) -> String {
        seconds > 253_402_300_799 ? "\(seconds) s" : ViewQueries.iso(seconds * 1000).prefix(19) + "Z"
    }

}

extension VerifyCheckpointCommand {
    /// The C2SP tlog-policy file at `path` (`-`: standard input), read up to its limit and
    /// parsed; what is wrong is said with the file's name.
    static func readPolicy(_ path: String) throws -> WitnessPolicy {
        let data = try read(path, limit: WitnessPolicy.maxBytes, what: "a C2SP tlog-policy file")
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError("\(path): not UTF-8") }
        do { return try WitnessPolicy(parsing: text) } catch { throw CLIError("\(path): \(error.message)") }
    }

    /// At most `limit` bytes of `path` (`-`: standard input), refused beyond.
    static func read(_ path: String, limit: Int, what: String) throws -> Data {
        // A named file: a regular file only (a FIFO is refused, not waited on), the reason said.
        if path != "-" {
            do { return Data(try RegularFile.read(path, limit: limit)) } catch {
                if case .tooLarge = error { throw CLIError("\(path): longer than \(limit) bytes; not \(what)") }
                throw CLIError("cannot read \(path): \(error)")
            }
        }
        let handle = FileHandle.standardInput
        var data = Data()
        while data.count <= limit {
            guard let chunk = try? handle.read(upToCount: limit + 1 - data.count), !chunk.isEmpty else { break }
            data.append(chunk)
        }
        guard data.count <= limit else { throw CLIError("\(path): longer than \(limit) bytes; not \(what)") }
        return data
    }
}

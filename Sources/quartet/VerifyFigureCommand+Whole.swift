import ArgumentParser
import Foundation
import QuartetAPI
import QuartetLedger
import QuartetNode
import QuartetPlan
import QuartetStore

/// `--whole`: the figure recomputed from every entry of its logs, not only those the answer names.
extension VerifyFigureCommand {
    /// Entries of a log read whole at most (2,000,000 entries: 64 MB of leaf hashes held).
    static let wholeLimit: UInt64 = 2_000_000

    /// Reads every entry of the figure's logs — those the answer's checkpoints are for, and for a
    /// UK total every log the policy names (a nation left off the answer whole is caught) — up
    /// to a checkpoint meeting the policy (the answer's, else the node's newest that does), checks
    /// each entry against itself and the logs' roots against those checkpoints, folds them all
    /// as every node does, and recomputes the figure, which must be `stated`.
    static func readWhole(_ client: APIClient, configuration: ClientConfiguration, figure: String, policy: WitnessPolicy, ukLog: String,
                          answered: [String: Report.Checkpoint], stated: JSONValue, maxAge: UInt64, now: UInt64) async throws -> Report.Whole {
        var heads: [String: (size: UInt64, root: Hash)] = [:]
        // Checkpoints verified only once their logs are read (their rotations among the entries).
        var unverified: [String: (note: String, claimed: Checkpoint)] = [:]
        for (log, c) in answered { heads[log] = (c.size, try Hash(base64: c.root)) }
        if figure.hasPrefix("total:") {
            for (i, line) in policy.logs.enumerated() {
                let log = policy.logURLs[i].flatMap(AuditCoverage.namedLog) ?? String(line.name.split(separator: "/").last ?? "")
                guard heads[log] == nil, !log.isEmpty else { continue }
                let text = try await api(configuration) { try await client.checkpoint(log: log, covering: 0) }
                let head: WholeHead
                do { head = try Self.wholeHead(text, of: log, policy: policy, maxAge: maxAge, now: now) } catch { throw CLIError(error.description) }
                switch head {
                case .verified(let size, let root): heads[log] = (size, root)
                case .deferred(let claimed):
                    unverified[log] = (text, claimed)
                    heads[log] = (claimed.size, claimed.root)
                }
            }
        }
        var view = StrategyView(ukLog: ukLog, logs: Array(heads.keys), counted: Set(heads.keys))
        for (log, head) in heads.sorted(by: { $0.key < $1.key }) {
            guard head.size <= wholeLimit else { throw CLIError("read whole: \(log) holds \(head.size) entries, more than \(wholeLimit) this command reads") }
            var leaves: [Hash] = []
            var rotations: [KeyRotation] = []
            let claimed = unverified[log]?.claimed
            leaves.reserveCapacity(Int(head.size))
            while UInt64(leaves.count) < head.size {
                let from = UInt64(leaves.count)
                let page = try await api(configuration) { try await client.entries(log: log, from: from, limit: 1000) }
                let bodies = page.entries.prefix { $0.index < head.size }
                guard !bodies.isEmpty, bodies.enumerated().allSatisfy({ $0.element.index == from + UInt64($0.offset) }) else {
                    throw CLIError("read whole: the node's page of \(log) from \(from) does not hold the entries from \(from) in order")
                }
                for body in bodies {
                    let (entry, viewEntry): (Entry, ViewEntry)
                    do { (entry, viewEntry) = try Self.foldable(body) } catch { throw CLIError("read whole: entry \(log)/\(body.index): \(error.description)") }
                    guard Array(entry.header.log.utf8) == Array(log.utf8) else { throw CLIError("read whole: entry \(log)/\(body.index) names the log \(entry.header.log)") }
                    leaves.append(entry.leafHash)
                    if let claimed {
                        do { try Self.collectRotation(entry, of: log, origin: claimed.origin, into: &rotations) } catch { throw CLIError(error.description) }
                    }
                    do { try view.apply(viewEntry) } catch { throw CLIError("read whole: entry \(log)/\(body.index): the fold refused it: \(error.message)") }
                }
            }
            guard Merkle.root(ofLeaves: leaves) == head.root else {
                throw CLIError("read whole: the \(head.size) entries of \(log) the node serves do not make the root of its checkpoint: entries were changed, left out or added")
            }
            // The entries make the claimed checkpoint's root: its key rotations are the log's.
            // (The note whose claimed checkpoint was read: what verifies is what was read.)
            if let note = unverified[log]?.note {
                do { _ = try Self.head(note, of: log, policy: policy, rotations: rotations, maxAge: maxAge, now: now) } catch {
                    throw CLIError("read whole: \(error.description)")
                }
            }
        }
        let queries = ViewQueries(view: view, health: [:], nowMillis: now * 1000, order: heads.keys.sorted())
        let recomputed: String
        do { recomputed = try Self.same(queries.stated(figure), as: stated, figure: figure, from: "read whole, the logs up to those checkpoints") } catch {
            throw CLIError("\(error.description): entries were left out of the answer (or the logs moved on since it was made: ask again)")
        }
        return Report.Whole(logs: heads.mapValues(\.size), recomputed: recomputed)
    }

    /// A log's checkpoint before the log is read whole: verified under the policy, or claimed.
    enum WholeHead: Equatable {
        case verified(size: UInt64, root: Hash)
        /// Its log's signature put off until the entries are read (their rotations followed).
        case deferred(Checkpoint)
    }

    /// How `text`, the node's checkpoint of `log`, is taken before `log` is read whole: verified
    /// under the policy; else — perhaps signed by a key the log moved to after the policy was
    /// written, whose rotations are among the entries read then — claimed, only its log's
    /// signature put off: the log the policy's line names, the witnesses' quorum and its age
    /// are judged first, so no log is read whole (up to `wholeLimit` entries) on a checkpoint
    /// that fails them. Each refusal says its own reason.
    static func wholeHead(_ text: String, of log: String, policy: WitnessPolicy, maxAge: UInt64, now: UInt64) throws(Failure) -> WholeHead {
        let failure: Failure
        do {
            let verified = try Self.head(text, of: log, policy: policy, maxAge: maxAge, now: now).verified
            return .verified(size: verified.checkpoint.size, root: verified.checkpoint.root)
        } catch { failure = error }
        guard let note = try? SignedNote(parsing: text), let claimed = try? Checkpoint(parsing: note.text),
              policy.logs.contains(where: { Array($0.name.utf8) == Array(claimed.origin.utf8) }) else { throw Failure("read whole: \(failure.description)") }
        if let refusal = AuditCoverage.namesAnotherLog(policy, origin: claimed.origin, log: log) { throw Failure("read whole: \(refusal)") }
        let cosigned: [String: UInt64]
        do { cosigned = try policy.cosigned(note, checkpoint: claimed) } catch {
            throw Failure("read whole: the checkpoint of \(log) does not meet your policy: \(error.message)")
        }
        if let refusal = VerifyCheckpointCommand.ageRefusal(quorumTime: policy.quorumTime(cosigned), now: now, maxAge: maxAge) {
            throw Failure("read whole: \(log): \(refusal)")
        }
        return .deferred(claimed)
    }

    /// Adds `entry`'s key rotation, if it is one, to `rotations` (read from a log whose
    /// checkpoint was claimed, `origin` its origin): its signatures are checked as the chain is
    /// followed, once the root matches; no more than a log may hold (`KeyChain.maxRotations`).
    static func collectRotation(_ entry: Entry, of log: String, origin: String, into rotations: inout [KeyRotation]) throws(Failure) {
        do {
            if let rotation = try KeyRotation.from(entry, origin: origin, verifyingSignatures: false) { rotations.append(rotation) }
        } catch { throw Failure("read whole: entry \(log)/\(entry.header.index): \(error.message)") }
        guard rotations.count <= KeyChain.maxRotations else {
            throw Failure("read whole: \(log) holds more key rotations than a log may (\(KeyChain.maxRotations))")
        }
    }
}

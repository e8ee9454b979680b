import Foundation
import QuartetCrypto
import QuartetLedger
@testable import QuartetNode
import Testing

/// `ReplicationEngine.admissibility`: every check of a federation file against the logs a node
/// holds, made at start and at reload before anything is kept or switched (security finding 109).
@Suite struct FederationAdmissibilityTests {
    /// Members with keys of their own, each log signing as `quartet.test/<log>`.
    struct Fixture {
        var keys: [String: Ed25519PublicKey] = [:]

        mutating func key(_ name: String) throws -> Ed25519PublicKey {
            if let key = keys[name] { return key }
            let key = try Ed25519PrivateKey().publicKey
            keys[name] = key
            return key
        }

        mutating func member(_ id: String, log: String? = nil, origin: String? = nil, role: Federation.Role = .nation) throws -> Federation.Member {
            let log = log ?? id
            return Federation.Member(id: id, role: role, peer: HostPort(host: "127.0.0.1", port: 1), api: "https://127.0.0.1:2", log: log,
                                     verifier: NoteVerifier(name: origin ?? "quartet.test/\(log)", publicKey: try key(log)))
        }

        /// The log as a node holds it (`own`: this node writes it).
        mutating func held(_ log: String, own: Bool = false) throws -> HeldLog {
            HeldLog(name: log, verifier: NoteVerifier(name: "quartet.test/\(log)", publicKey: try key(log)), isOwn: own)
        }
    }

    static let directory = "/var/lib/quartet/wales"

    func admissibility(_ federation: Federation, _ held: [HeldLog]) -> String? {
        ReplicationEngine.admissibility(of: federation, held: held, ownLog: "wales", directory: Self.directory)
    }

    @Test func aFileThatFitsTheLogsHeldIsAdmissible() throws {
        var f = Fixture()
        let federation = Federation(name: "test", version: 2, members: [try f.member("uk", role: .aggregator), try f.member("wales"), try f.member("scotland")])
        // England was removed: its log stays held, and a file without it is taken.
        let held = [try f.held("uk"), try f.held("wales", own: true), try f.held("england")]
        #expect(admissibility(federation, held) == nil)
        // A member added (scotland) whose log is not held yet is taken too.
        #expect(admissibility(federation, held + [try f.held("scotland")]) == nil)
    }

    /// The attack of finding 109: a file removing england and adding `wales2`, whose log would
    /// sign under the origin of england's log, which every node holds. The store refuses a second
    /// log of one origin, so this is refused before the file is kept or anything switched.
    @Test func aNewLogUnderTheOriginOfAHeldLogIsRefused() throws {
        var f = Fixture()
        let held = [try f.held("uk"), try f.held("wales", own: true), try f.held("england")]
        let wales2 = try f.member("wales2", origin: "quartet.test/england")
        let federation = Federation(name: "test", version: 2, members: [try f.member("uk", role: .aggregator), try f.member("wales"), wales2])
        let problem = try #require(admissibility(federation, held))
        #expect(problem.contains("member wales2's log wales2 would sign as quartet.test/england"), "\(problem)")
        #expect(problem.contains("log england, which this node holds"), "\(problem)")
        // Two logs of the file under one origin (which `Federation.parse` refuses too).
        var twice = federation
        twice.members[2].verifier = NoteVerifier(name: "quartet.test/scotland", publicKey: try f.key("wales2"))
        twice.members.append(try f.member("scotland"))
        let both = try #require(admissibility(twice, held))
        #expect(both.contains("log wales2 of the same file"), "\(both)")
    }

    @Test func aHeldLogUnderAnotherKeyOrOriginIsRefused() throws {
        var f = Fixture()
        let held = [try f.held("uk"), try f.held("wales", own: true), try f.held("england")]
        var england = try f.member("england")
        england.verifier = NoteVerifier(name: "quartet.test/england", publicKey: try Ed25519PrivateKey().publicKey)
        let federation = Federation(name: "test", version: 3, members: [try f.member("uk", role: .aggregator), try f.member("wales"), england])
        let problem = try #require(admissibility(federation, held))
        #expect(problem.contains("log england in \(Self.directory) has key"), "\(problem)")
        // The same key under another origin is another verifier.
        var renamed = federation
        renamed.members[2] = try f.member("england", origin: "quartet.test/elsewhere")
        #expect(admissibility(renamed, held)?.contains("log england in \(Self.directory) has key") == true)
        // This node's own log: the message says so.
        var mine = federation
        mine.members[2] = try f.member("england")
        mine.members[1].verifier = NoteVerifier(name: "quartet.test/wales", publicKey: try Ed25519PrivateKey().publicKey)
        #expect(admissibility(mine, held)?.contains("the key of log wales in \(Self.directory)") == true)
    }

    @Test func theOwnLogMustBeHeldAsOwn() throws {
        var f = Fixture()
        let federation = Federation(name: "test", version: 1, members: [try f.member("uk", role: .aggregator), try f.member("wales")])
        #expect(admissibility(federation, [try f.held("uk")])?.contains("holds no log wales; create it with `quartet init --log wales") == true)
        #expect(admissibility(federation, [try f.held("uk"), try f.held("wales")])?.contains("log wales in \(Self.directory) is a replica") == true)
    }

    @Test func aHeldLogsKeyOrOriginIsNoOtherMembersKey() throws {
        var f = Fixture()
        let held = [try f.held("uk"), try f.held("wales", own: true), try f.held("england")]
        // A new member whose log key is the removed england's, under an origin of its own.
        var reused = try f.member("wales2")
        reused.verifier = NoteVerifier(name: "quartet.test/wales2", publicKey: try f.key("england"))
        let keyReused = Federation(name: "test", version: 2, members: [try f.member("uk", role: .aggregator), try f.member("wales"), reused])
        #expect(admissibility(keyReused, held)?.contains("member wales2 names the key of log england") == true)
        // A witness key that is a held log's key, or named after a held log's origin.
        var witnessed = try f.member("wales2")
        witnessed.witness = CosignatureVerifier(name: "witness.test/wales2", publicKey: try f.key("england"))
        let witnessKey = Federation(name: "test", version: 2, members: [try f.member("uk", role: .aggregator), try f.member("wales"), witnessed])
        #expect(admissibility(witnessKey, held)?.contains("member wales2 names the key of log england") == true)
        witnessed.witness = CosignatureVerifier(name: "quartet.test/england", publicKey: try Ed25519PrivateKey().publicKey)
        let witnessName = Federation(name: "test", version: 2, members: [try f.member("uk", role: .aggregator), try f.member("wales"), witnessed])
        #expect(admissibility(witnessName, held)?.contains("witness key is named quartet.test/england, the origin of log england") == true)
    }

    @Test func aNodeIDNamedAfterAHeldLogItDoesNotWriteIsRefused() throws {
        var f = Fixture()
        let held = [try f.held("uk"), try f.held("wales", own: true), try f.held("england")]
        let federation = Federation(name: "test", version: 2, members: [try f.member("uk", role: .aggregator), try f.member("wales"),
                                                                        try f.member("england", log: "england2")])
        #expect(admissibility(federation, held)?.contains("node id \"england\" is the name of a log this node holds") == true)
    }
}

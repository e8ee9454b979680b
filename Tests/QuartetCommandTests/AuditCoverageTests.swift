import QuartetCrypto
import QuartetLedger
@testable import quartet
import Testing

/// Which log a policy's line names, for `quartet audit --policy` (the figure page's rule).
@Suite struct AuditCoverageTests {
    func policy(_ lines: [(origin: String, url: String?)]) throws -> WitnessPolicy {
        let logs = try lines.map { try NoteSigner(name: $0.origin, key: Ed25519PrivateKey()).verifier }
        return WitnessPolicy(logs: logs, logURLs: lines.map(\.url), witnesses: [], groups: [], quorum: nil)
    }

    /// With `--policy`, a listing the signed ledger contradicts fails the audit (5) whatever
    /// else is asked — before records outside their terms (4) and records not shown witnessed
    /// (3, only with `--require-witnessed`): a node misstating a record's access hid one outside
    /// the terms behind an exit 0.
    @Test func aContradictedListingFailsTheAuditFirst() {
        #expect(AuditCommand.exitStatus(contradicted: true, outside: 0, uncovered: true, requireWitnessed: false) == 5)
        #expect(AuditCommand.exitStatus(contradicted: true, outside: 2, uncovered: true, requireWitnessed: true) == 5)
        #expect(AuditCommand.exitStatus(contradicted: false, outside: 2, uncovered: true, requireWitnessed: true) == 4)
        #expect(AuditCommand.exitStatus(contradicted: false, outside: 0, uncovered: true, requireWitnessed: true) == 3)
        #expect(AuditCommand.exitStatus(contradicted: false, outside: 0, uncovered: true, requireWitnessed: false) == 0)
        #expect(AuditCommand.exitStatus(contradicted: false, outside: 0, uncovered: false, requireWitnessed: true) == 0)
    }

    @Test func aLogIsNamedByItsPolicyURLElseByItsOrigin() throws {
        let p = try policy([("quartet.example/wales", "https://wales.example:8443/v1/logs/wales"),
                            ("evil.example/wales", "https://england.example/v1/logs/england"),
                            ("quartet.example/scotland", nil),
                            ("odd.example/x", "https://x.example/somewhere")])
        #expect(AuditCoverage.namesAnotherLog(p, origin: "quartet.example/wales", log: "wales") == nil)
        // An origin that ends in /wales, but whose URL names england: not wales's.
        #expect(AuditCoverage.namesAnotherLog(p, origin: "evil.example/wales", log: "wales")?.contains("names the log england") == true)
        // No URL: the origin decides.
        #expect(AuditCoverage.namesAnotherLog(p, origin: "quartet.example/scotland", log: "scotland") == nil)
        #expect(AuditCoverage.namesAnotherLog(p, origin: "quartet.example/scotland", log: "land") != nil)
        // A URL of another form names no log; a key the policy lacks names none either.
        #expect(AuditCoverage.namesAnotherLog(p, origin: "odd.example/x", log: "x")?.contains("names no log") == true)
        #expect(AuditCoverage.namesAnotherLog(p, origin: "other.example/wales", log: "wales")?.contains("no key") == true)
    }

    /// A URL whose query or fragment hides its real tail (a member's api `…/v1/logs/wales?`, to
    /// which `quartet policy` appends /v1/logs/england) names no log; nor dot segments; and a
    /// policy naming one log on two lines names it for neither (finding 215).
    @Test func aURLHidingItsTailNamesNoLogAndALogNamedTwiceIsNoOnes() throws {
        #expect(AuditCoverage.namedLog("https://england.example:8402/v1/logs/wales?/v1/logs/england") == nil)
        #expect(AuditCoverage.namedLog("https://england.example:8402/v1/logs/wales#/v1/logs/england") == nil)
        #expect(AuditCoverage.namedLog("https://e.example/v1/logs/x/../wales") == nil)
        // Percent-encoded dot segments and backslashes, as the page reads them (finding 283).
        #expect(AuditCoverage.namedLog("https://h.example/v1/logs/wales/%2e%2e/logs/england") == nil)
        #expect(AuditCoverage.namedLog("https://h.example/v1/logs/wales/%2E./logs/england") == nil)
        #expect(AuditCoverage.namedLog("https://h.example/v1/logs/wales\\..\\logs/england") == nil)
        #expect(AuditCoverage.namedLog("https://wales.example/v1/logs/wales") == "wales")
        let hidden = try policy([("quartet.example/england", "https://england.example:8402/v1/logs/wales?/v1/logs/england")])
        #expect(AuditCoverage.namesAnotherLog(hidden, origin: "quartet.example/england", log: "wales")?.contains("names no log") == true)
        let twice = try policy([("quartet.example/wales", "https://wales.example/v1/logs/wales"),
                                ("quartet.example/england", "https://england.example/v1/logs/wales")])
        #expect(AuditCoverage.namesAnotherLog(twice, origin: "quartet.example/wales", log: "wales")?.contains("more than one line") == true)
        #expect(AuditCoverage.namesAnotherLog(twice, origin: "quartet.example/england", log: "wales")?.contains("more than one line") == true)
    }
}

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
}

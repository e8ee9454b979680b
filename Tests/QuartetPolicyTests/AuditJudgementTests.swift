import QuartetPolicy
import Testing

/// `quartet audit --owner` holds each disclosure record against its agreement's signed terms
/// (finding 233): who may get what, of which log, and when.
@Suite struct AuditJudgementTests {
    let terms = AuditJudgement.Terms(holder: "wales", recipients: ["uk": "aggregate", "england": "full", "scotland": "none"],
                                     validFrom: "2026-01-01T00:00:00Z", validUntil: "2027-01-01T00:00:00Z", revoked: nil)

    func record(log: String = "wales", sender: String = "wales", to recipient: String, access: String, at time: String = "2026-06-01T12:00:00Z") -> AuditJudgement.Record {
        .init(log: log, sender: sender, recipient: recipient, access: access, time: time)
    }

    @Test func aRecordTheTermsAllowHasNoProblem() {
        #expect(AuditJudgement.problems(record(to: "england", access: "full"), under: terms).isEmpty)
        #expect(AuditJudgement.problems(record(to: "england", access: "aggregate"), under: terms).isEmpty)
        #expect(AuditJudgement.problems(record(to: "uk", access: "aggregate"), under: terms).isEmpty)
        // A relay's record is within the terms when the agreement lets the relay hold what it
        // sent: england (full) passing entries on in full, uk (aggregate) passing aggregates.
        #expect(AuditJudgement.problems(record(sender: "england", to: "uk", access: "aggregate"), under: terms).isEmpty)
        #expect(AuditJudgement.problems(record(sender: "uk", to: "england", access: "aggregate"), under: terms).isEmpty)
        // A sender the agreement does not name (a member whose node id is not its log's name)
        // is not judged as a relay.
        #expect(AuditJudgement.problems(record(sender: "cymru-log", to: "england", access: "full"), under: terms).isEmpty)
        // Late by less than the grace (the sender's clock, a relay yet to fold a revocation).
        #expect(AuditJudgement.problems(record(to: "england", access: "full", at: "2027-01-01T00:00:04.999Z"), under: terms).isEmpty)
        // Records are dated to the millisecond, as nodes write them: the last millisecond of the
        // agreement and its first are within it.
        #expect(AuditJudgement.problems(record(to: "england", access: "full", at: "2026-12-31T23:59:59.999Z"), under: terms).isEmpty)
        #expect(AuditJudgement.problems(record(to: "england", access: "full", at: "2026-01-01T00:00:00.000Z"), under: terms).isEmpty)
        #expect(AuditJudgement.problems(record(to: "england", access: "full", at: "2026-06-01T12:00:00.344Z"), under: terms).isEmpty)
    }

    @Test func recordsOutsideTheTermsSayWhy() {
        func problems(_ r: AuditJudgement.Record, _ t: AuditJudgement.Terms? = nil) -> String { AuditJudgement.problems(r, under: t ?? terms).joined(separator: "; ") }
        #expect(problems(record(to: "scotland", access: "full")).contains("gives scotland nothing (none)"))
        #expect(problems(record(to: "northern-ireland", access: "aggregate")).contains("northern-ireland is not a recipient"))
        #expect(problems(record(to: "uk", access: "full")).contains("sent full to uk, which the agreement gives aggregates only"))
        #expect(problems(record(log: "england", sender: "england", to: "england", access: "full")).contains("entries of england, not of the agreement's holder wales"))
        #expect(problems(record(to: "england", access: "full", at: "2027-01-01T00:00:05.000Z")).contains("after the agreement's end 2027-01-01T00:00:00Z"))
        // A relay the agreement does not let hold what it sent held it.
        #expect(problems(record(sender: "uk", to: "england", access: "full")).contains("recorded by uk, which the agreement does not let hold the entries in full"))
        #expect(problems(record(sender: "scotland", to: "uk", access: "aggregate")).contains("recorded by scotland, which the agreement does not let hold its aggregates"))
        #expect(problems(record(to: "england", access: "full", at: "2025-12-31T23:59:59.999Z")).contains("before the agreement's start"))
        for bad in ["1 June", "2026-06-01T12:00:00.34Z", "2026-06-01T12:00:00,344Z", "2026-06-01T12:00:00.3440Z"] {
            #expect(problems(record(to: "england", access: "full", at: bad)).contains("is not a UTC time"), "\(bad)")
        }
        // A revocation is listed to the second (rounded down): within that second, not late.
        var revoked = terms
        revoked.revoked = "2026-03-01T00:00:00Z"
        #expect(problems(record(to: "england", access: "full", at: "2026-03-01T00:00:05.999Z"), revoked).isEmpty)
        #expect(problems(record(to: "england", access: "full", at: "2026-03-01T00:00:06.000Z"), revoked).contains("after the agreement's revocation at 2026-03-01T00:00:00Z"))
        // An agreement re-signed under its id: a record within any signed copy is within it.
        var narrower = terms
        narrower.recipients["england"] = "aggregate"
        #expect(AuditJudgement.problems(record(to: "england", access: "full"), underAnyOf: [narrower, terms]).isEmpty)
        #expect(AuditJudgement.problems(record(to: "england", access: "full"), underAnyOf: [narrower]).first?.contains("aggregates only") == true)
        var odd = terms
        odd.recipients["england"] = "rows"
        #expect(problems(record(to: "england", access: "full"), odd).contains("no access this audit knows"))
    }
}

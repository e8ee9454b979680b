import Foundation
import Logging
@testable import QuartetNode
import QuartetPolicy
import QuartetStore
import QuartetTestKit
import Testing

/// Writes to the data directory that fail (a full disk, an IO error, a read-only mount): said by
/// `/readyz` and `/metrics` until the path's next write succeeds; a failed purge tried again;
/// a journal line cut short by a full disk cut back, so the next line is not lost with it.
@Suite struct WriteFailureTests {
    @Test func aFailingPathIsSaidUntilItsNextSuccess() {
        let health = WriteHealth()
        #expect(health.failing(nowMillis: 3_000).isEmpty)
        health.succeeded(.ownLog)
        health.failed(.ownLog, described: "disk I/O error", nowMillis: 1_000)
        health.failed(.replica, described: "database or disk is full", nowMillis: 1_500)
        health.failed(.ownLog, described: "database or disk is full", nowMillis: 2_000)
        #expect(health.failing(nowMillis: 3_000)[.ownLog]?.since == 1_000 && health.failing(nowMillis: 3_000)[.ownLog]?.error == "database or disk is full")
        #expect(health.failures == [.ownLog: 2, .replica: 1])
        // Another path's success clears nothing else.
        health.succeeded(.witness)
        #expect(Set(health.failing(nowMillis: 3_000).keys) == [.ownLog, .replica])
        health.succeeded(.ownLog)
        #expect(Set(health.failing(nowMillis: 3_000).keys) == [.replica])
        health.succeeded(.replica)
        #expect(health.failing(nowMillis: 3_000).isEmpty && health.failures == [.ownLog: 2, .replica: 1])
        // A failure with no write of its path since counts 2 minutes: nothing retries an
        // operator's append, so a node taken out of service would otherwise never be ready again.
        health.failed(.ownLog, described: "disk full", nowMillis: 10_000)
        #expect(health.failing(nowMillis: 10_000 + WriteHealth.staleMillis - 1)[.ownLog] != nil)
        #expect(health.failing(nowMillis: 10_000 + WriteHealth.staleMillis)[.ownLog] == nil)
        // A clock set back counts it as fresh.
        #expect(health.failing(nowMillis: 5_000)[.ownLog] != nil)
        health.succeeded(.ownLog)
        // Bounded: a huge error text is kept cut.
        health.failed(.journal, described: String(repeating: "x", count: 100_000), nowMillis: 3_000)
        #expect(health.failing(nowMillis: 20_000)[.journal]?.error.count == 500)
    }

    @Test func readinessNamesTheFailingWritesNeverTheirErrors() {
        let ready = Readiness.evaluate(storeAnswers: true, peers: [], logs: [])
        #expect(ready.isEmpty)
        let reasons = Readiness.evaluate(storeAnswers: true, peers: [], logs: [], writesFailing: [.replica, .ownLog])
        #expect(reasons == ["the data directory cannot be written (own log appends, replica batches fail): a full disk or a read-only mount? the node's log says why"])
    }

    /// A purge that failed is scheduled again after its wait (5 s, doubling to 5 min), not left
    /// owed until the next start; one back in force owes nothing.
    @Test func aFailedPurgeIsScheduledAgainAfterItsWait() throws {
        var schedule = PurgeSchedule()
        let key = "HEIW-2024 wales 10"
        // Mutating calls outside the expectation macros (they take their operands immutable).
        func at(_ now: UInt64) -> UInt64? { schedule.schedule(key, now: now) }
        func fail(_ scheduling: UInt64, _ now: UInt64) -> UInt64? { schedule.failed(key, scheduling, now: now) }
        let first = try #require(at(0))
        let twice = at(1_000)
        #expect(twice == nil)
        let wait1 = fail(first, 10_000)
        #expect(wait1 == 5_000 && schedule.owed)
        let early = at(14_999)
        #expect(early == nil)
        let second = try #require(at(15_000))
        let wait2 = fail(second, 20_000)
        #expect(wait2 == 10_000)
        let early2 = at(29_999)
        #expect(early2 == nil)
        var scheduling = try #require(at(30_000))
        // Doubling stops at 5 min.
        var wait: UInt64 = 0
        var now: UInt64 = 30_000
        for _ in 0..<20 {
            wait = try #require(fail(scheduling, now))
            now += wait
            scheduling = try #require(at(now))
        }
        #expect(wait == PurgeSchedule.lastRetryMillis)
        // A pass of an older scheduling fails nothing.
        let stale = fail(first, now)
        #expect(stale == nil)
        schedule.succeeded(key)
        #expect(!schedule.owed)
        // Failed, then back in force: nothing owed, and its next end is scheduled at once.
        let other = schedule.schedule("other", now: 0)
        _ = schedule.failed("other", try #require(other), now: 0)
        #expect(schedule.owed)
        _ = schedule.forget("other")
        let anew = schedule.schedule("other", now: 1)
        #expect(!schedule.owed && anew != nil)
    }

    /// On a file system with no room, a journal line written in part is cut back to where it
    /// began: the next line, written once there is room, is read back whole (it used to join the
    /// torn line, and replay skipped both). Needs root to mount a small tmpfs (CI runs as root).
    @Test(.enabled(if: getuid() == 0, "mounts a tmpfs")) func aJournalLineCutShortByAFullDiskLeavesNoTornLine() throws {
        let dir = try TestKit.temporaryDirectory("journal-enospc")
        defer { try? FileManager.default.removeItem(at: dir) }
        let mount = try #require(TestKit.which("mount")), umount = try #require(TestKit.which("umount"))
        let mounted = try TestKit.run(mount, ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", dir.path])
        try #require(mounted.status == 0, "\(mounted.stderr)")
        defer { _ = try? TestKit.run(umount, [dir.path]) }
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        let journal = dir.appendingPathComponent("pending-records")
        let health = WriteHealth()
        let recorder = OwnLogRecorder(journal: journal, ownLog: "wales", writes: health, logger: quiet)
        #expect(recorder.record(recipient: "england", log: "wales", ranges: [0...0], agreement: "HEIW-1", access: .full))
        let before = try Data(contentsOf: journal)
        // The rest of the file system filled: the journal's page has room for part of a line.
        let filler = dir.appendingPathComponent("filler")
        let fd = open(filler.path, O_WRONLY | O_CREAT, 0o600)
        try #require(fd >= 0)
        let block = [UInt8](repeating: 0x61, count: 512)
        while true {
            let written: Int = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written <= 0 { break }
        }
        close(fd)
        // Many ranges: lines longer than what is left of the journal's page.
        let many: [ClosedRange<UInt64>] = (1...60).map { (i: Int) -> ClosedRange<UInt64> in UInt64(i * 10)...UInt64(i * 10 + 1) }
        #expect(!recorder.record(recipient: "england", log: "wales", ranges: many, agreement: "HEIW-1", access: .full))
        #expect(try Data(contentsOf: journal) == before, "the part written was not cut back")
        #expect(health.failing(nowMillis: wallClockMillis())[.journal] != nil)
        // Room again: the next line is whole, and the journal holds whole lines only.
        try FileManager.default.removeItem(at: filler)
        #expect(recorder.record(recipient: "england", log: "wales", ranges: [5...6], agreement: "HEIW-1", access: .full))
        #expect(health.failing(nowMillis: wallClockMillis()).isEmpty)
        let text = String(decoding: try Data(contentsOf: journal), as: UTF8.self)
        #expect(text.hasSuffix("\n"))
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "a torn line: \(line.prefix(80))")
        }
    }
}

/// A disowned copy (a checkpoint signed past a revocation held: finding 207) is not shown as
/// verified: one rule (`LogStatus.verified`, read by `/v1/logs`, the view's log health and the
/// status page), and the status page's tags.
@Suite struct DisownedCopyTests {
    @Test func oneRuleSaysVerified() {
        #expect(ReplicationEngine.LogStatus.verified(quarantined: false, disowned: false))
        #expect(!ReplicationEngine.LogStatus.verified(quarantined: false, disowned: true))
        #expect(!ReplicationEngine.LogStatus.verified(quarantined: true, disowned: false))
    }

    /// The status page's expiry cells: days counted down (an hour past is red), amber within
    /// the threshold, a certificate no CA in tls.ca signed red.
    @Test func theStatusPageShowsExpiriesByTheAlertsThresholds() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(StatusBody.expiry(now.addingTimeInterval(-3_600), now: now, amberDays: 30) == (text: "2027-01-15T07:00:00Z (-1 days)", tag: "red"))
        #expect(StatusBody.expiry(now.addingTimeInterval(3_600), now: now, amberDays: 30).tag == "amber")
        #expect(StatusBody.expiry(now.addingTimeInterval(86_400 * 89.5), now: now, amberDays: 90).tag == "amber")
        #expect(StatusBody.expiry(now.addingTimeInterval(86_400 * 90), now: now, amberDays: 90).tag == "green")
        #expect(StatusBody.expiry(nil, now: now, amberDays: 90).tag == "red")
    }

    @Test func theStatusPageTagsADisownedCopyNotVerified() {
        func log(_ name: String, quarantined: Bool, disowned: Bool) -> StatusBody.Log {
            StatusBody.Log(name: name, own: false, held: "9", behind: "0", age: "1 s", quarantined: quarantined, disowned: disowned, peersBehind: "none")
        }
        let body = StatusBody(peers: [], logs: [log("wales", quarantined: false, disowned: false), log("england", quarantined: false, disowned: true),
                                                log("scotland", quarantined: true, disowned: true)],
                              alerts: [], certificate: "", certificateTag: "green", ca: "2027-01-01T00:00:00Z (20 days)", caTag: "amber", federation: "f")
        let html = WebPage.Frame(node: "uk", viewer: "quartet://operator/uk").render("status", title: "Node status", crumbs: [], script: false, body: body)
        let rows = html.components(separatedBy: "<tr><td>").dropFirst()
        func row(_ name: String) -> String { rows.first { $0.hasPrefix(name) } ?? "" }
        #expect(html.contains("<dt>Its CA expires</dt><dd><span class=\"tag tag-amber\">2027-01-01T00:00:00Z (20 days)</span>"), "\(html)")
        #expect(row("wales").contains("tag-green\">verified") && !row("wales").contains("tag-red"))
        #expect(row("england").contains("disowned: recover it") && !row("england").contains("verified"))
        #expect(row("scotland").contains(">quarantined<") && !row("scotland").contains("disowned") && !row("scotland").contains("verified"))
    }
}

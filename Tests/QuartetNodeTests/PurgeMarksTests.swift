import Foundation
import Logging
@testable import QuartetNode
import QuartetTestKit
import Testing

/// The finished purges a data directory keeps, so a start does not scan for them again.
@Suite struct PurgeMarksTests {
    /// A marks file in a folder of its own (removed by `done`), and a logger that says nothing.
    static func fresh() throws -> (path: String, quiet: Logger, done: () -> Void) {
        let dir = try TestKit.temporaryDirectory("marks")
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        return (dir.appendingPathComponent("purges-done").path, quiet, { try? FileManager.default.removeItem(at: dir) })
    }

    @Test func marksSurviveARestartAndForeignLinesAreNotMarks() throws {
        let (path, quiet, done) = try Self.fresh()
        defer { done() }
        let marks = PurgeMarks(path: path, logger: quiet)
        #expect(!marks.contains("HEIW-2024 wales 3"))
        marks.markDone("HEIW-2024 wales 3")
        marks.markDone("HEIW-2024 england 12")
        marks.markDone("not a mark\nHEIW-2025 wales 1")
        marks.markDone("HEIW-2024")
        #expect(marks.contains("HEIW-2024 wales 3") && marks.count == 2)
        // A torn last line, a line of spaces or other letters, an index that is no number, an
        // earlier form (id alone): not marks.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("HEIW-20\u{0}\n a b c\nHEIW-✓ wales 1\nHEIW-1 wales 01\nHEIW-1 wales x\nHEIW-1\nHCPC-1 uk 7".utf8))
        try handle.close()
        let again = PurgeMarks(path: path, logger: quiet)
        #expect(again.contains("HEIW-2024 wales 3") && again.contains("HEIW-2024 england 12") && again.contains("HCPC-1 uk 7") && again.count == 3)
        // Oversized: ignored whole (a scan again), not read.
        try Data(repeating: 0x41, count: PurgeMarks.limit + 1).write(to: URL(fileURLWithPath: path))
        #expect(PurgeMarks(path: path, logger: quiet).count == 0)
    }

    /// An agreement in force again is forgotten, in the file too: its next end is purged again.
    @Test func aMarkForgottenStaysForgottenAcrossARestart() throws {
        let (path, quiet, done) = try Self.fresh()
        defer { done() }
        let marks = PurgeMarks(path: path, logger: quiet)
        marks.markDone("HEIW-2024 wales 10")
        marks.markDone("HCPC-1 uk 7")
        marks.forget("HEIW-2024 wales 10")
        marks.forget("never marked wales 1")
        #expect(!marks.contains("HEIW-2024 wales 10") && marks.contains("HCPC-1 uk 7"))
        let again = PurgeMarks(path: path, logger: quiet)
        #expect(!again.contains("HEIW-2024 wales 10") && again.contains("HCPC-1 uk 7") && again.count == 1)
        // Marked again at its next end.
        again.markDone("HEIW-2024 wales 10")
        #expect(PurgeMarks(path: path, logger: quiet).contains("HEIW-2024 wales 10"))
    }

    /// A purge's delayed second pass marks it done only while it is still the one scheduled: an
    /// agreement back in force in the 5 s between the passes (a clock set back) is forgotten,
    /// and the pass must not mark it done again, or its real end would be skipped for good.
    @Test func aPurgeForgottenBetweenItsPassesIsNotMarkedByTheLaterPass() {
        var schedule = PurgeSchedule()
        let key = "HEIW-2024 wales 10"
        let first = schedule.schedule(key)
        let again = schedule.schedule(key)
        #expect(first != nil && again == nil)
        #expect(schedule.isCurrent(key, first!))
        let forgotten = schedule.forget(key)
        #expect(forgotten && !schedule.isCurrent(key, first!))
        // Its next end schedules it anew; the old pass is still not the current one.
        let second = schedule.schedule(key)
        #expect(second != nil && second != first && !schedule.isCurrent(key, first!) && schedule.isCurrent(key, second!))
        let never = schedule.forget("never scheduled")
        #expect(!never)
    }
}

import Foundation
import Logging
import Synchronization
import Testing
@testable import quartet

/// `--log-format json`: every line one JSON object that a standard parser reads back to exactly
/// what was logged, whatever the message holds.
@Suite struct JSONLogHandlerTests {
    /// Lines written by a handler, collected instead of going to standard error.
    final class Collector: Sendable {
        let lines = Mutex<[[UInt8]]>([])
        var write: @Sendable ([UInt8]) -> Void { { line in self.lines.withLock { $0.append(line) } } }
        var all: [[UInt8]] { lines.withLock { $0 } }
    }

    func parse(_ line: [UInt8]) throws -> [String: Any] {
        #expect(line.last == UInt8(ascii: "\n"), "a line ends with a newline")
        // No raw control byte anywhere but the final newline: the line cannot be split or
        // reinterpreted by a line-based shipper.
        #expect(!line.dropLast().contains { $0 < 0x20 || $0 == 0x7F }, "\(String(decoding: line, as: UTF8.self))")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.dropLast())) as? [String: Any])
    }

    /// Every control character, quotes, backslashes, the JavaScript line separators, and text
    /// from outside the BMP.
    static let hostile: String = {
        var text = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }.joined()
        text += "\u{7F} \"quoted\" back\\slash / \u{2028}\u{2029} Cymraeg: ŵ ŷ, 📈 end\n{\"forged\":true}"
        return text
    }()

    @Test func hostileTextRoundTripsThroughAStandardParser() throws {
        let metadata: Logger.Metadata = [
            "peer": .string(Self.hostile),
            "count": .stringConvertible(42),
            "nested": .dictionary(["list": .array([.string("a\u{0}b"), .dictionary(["k\"ey": .string("v\r")])])]),
        ]
        let line = JSONLogHandler.line(time: Date(), level: .warning, label: "quartet\ttest", message: Self.hostile, metadata: metadata)
        let object = try parse(line)
        #expect(Set(object.keys) == ["time", "level", "label", "message", "metadata"])
        #expect(object["message"] as? String == Self.hostile)
        #expect(object["label"] as? String == "quartet\ttest")
        #expect(object["level"] as? String == Logger.Level.warning.rawValue)
        let decoded = try #require(object["metadata"] as? [String: Any])
        #expect(decoded["peer"] as? String == Self.hostile)
        #expect(decoded["count"] as? String == "42")
        let nested = try #require(decoded["nested"] as? [String: Any])
        let list = try #require(nested["list"] as? [Any])
        #expect(list.first as? String == "a\u{0}b")
        #expect((list.last as? [String: Any])?["k\"ey"] as? String == "v\r")
        // U+2028 and U+2029 are written escaped, not raw.
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.contains("\\u2028") && !text.contains("\u{2028}"))
    }

    @Test func timeIsUTCWithMillisecondsAsISO8601Reads() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        // Instants on both sides of the epoch and of a leap day, with sub-millisecond parts.
        for seconds in [0.0, 1_709_164_800.999_9, 1_764_584_833.042_7, -0.5, 4_102_444_799.001] {
            let date = Date(timeIntervalSince1970: seconds)
            let object = try parse(JSONLogHandler.line(time: date, level: .info, label: "l", message: "m", metadata: [:]))
            let time = try #require(object["time"] as? String)
            #expect(time.hasSuffix("Z") && time.count == 24, "\(time)")
            let read = try #require(formatter.date(from: time), "\(time)")
            // Truncated to the millisecond, never rounded up.
            let truncated = (seconds * 1000).rounded(.down) / 1000
            #expect(abs(read.timeIntervalSince1970 - truncated) < 0.000_5, "\(seconds) → \(time)")
        }
    }

    @Test func handlerMergesMetadataLikeStreamLogHandlerAndHonoursTheLevel() throws {
        let collector = Collector()
        var handler = JSONLogHandler(label: "quartet", metadataProvider: .init { ["request": "r-1", "node": "provided"] },
                                     write: collector.write)
        handler.logLevel = .notice
        var logger = Logger(label: "quartet", factory: { _ in handler })
        logger[metadataKey: "node"] = "wales"
        logger[metadataKey: "stays"] = "yes"
        logger.info("below the level")
        logger.notice("node listening", metadata: ["api": "https://127.0.0.1:8401", "request": "statement"])
        struct Failure: Error, CustomStringConvertible { var description: String { "disk full\nreally" } }
        logger.error("append failed", error: Failure())

        let lines = collector.all
        #expect(lines.count == 2, "info is below notice: \(lines.map { String(decoding: $0, as: UTF8.self) })")
        let first = try parse(try #require(lines.first))
        #expect(first["message"] as? String == "node listening")
        #expect(first["level"] as? String == "notice")
        let metadata = try #require(first["metadata"] as? [String: Any])
        // The provider overrides the handler's metadata; the statement overrides both.
        #expect(metadata["node"] as? String == "provided")
        #expect(metadata["request"] as? String == "statement")
        #expect(metadata["stays"] as? String == "yes")
        #expect(metadata["api"] as? String == "https://127.0.0.1:8401")
        let second = try parse(try #require(lines.last))
        #expect((second["metadata"] as? [String: Any])?["error"] as? String == "disk full\nreally")
    }

    @Test func keysAreSortedSoEqualEventsPrintEqualLines() {
        let a: Logger.Metadata = ["b": "2", "a": "1", "c": .dictionary(["z": "1", "y": "2"])]
        var b: Logger.Metadata = [:]
        for key in ["c", "a", "b"] { b[key] = a[key] }
        let date = Date()
        let lineA = JSONLogHandler.line(time: date, level: .info, label: "l", message: "m", metadata: a)
        let lineB = JSONLogHandler.line(time: date, level: .info, label: "l", message: "m", metadata: b)
        #expect(lineA == lineB)
        let text = String(decoding: lineA, as: UTF8.self)
        let positions = ["\"a\"", "\"b\"", "\"c\"", "\"y\"", "\"z\""].map { text.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
    }

    @Test func deepNestingIsCutOffAndStaysValidJSON() throws {
        var value: Logger.Metadata.Value = .string("bottom")
        for _ in 0..<200 { value = .array([value]) }
        let object = try parse(JSONLogHandler.line(time: Date(), level: .debug, label: "l", message: "m", metadata: ["deep": value]))
        var depth = 0
        var current: Any? = (object["metadata"] as? [String: Any])?["deep"]
        while let array = current as? [Any] { depth += 1; current = array.first }
        #expect(depth < JSONLogHandler.maximumDepth)
        #expect(current as? String == "…")
    }
}

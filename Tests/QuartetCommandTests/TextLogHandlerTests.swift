import Logging
import Synchronization
import Testing
@testable import quartet

/// The default text log format: the handler's metadata is kept aside and merged only when a
/// line is written, with swift-log's precedence.
@Suite struct TextLogHandlerTests {
    /// What the inner handler was given.
    final class Box: Sendable { let events = Mutex<[LogEvent]>([]) }

    /// An inner handler that records what it is given.
    struct Recorder: LogHandler {
        let box: Box
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            // The inner handler never holds metadata of its own.
            precondition(metadata.isEmpty && metadataProvider == nil)
            box.events.withLock { $0.append(event) }
        }
    }

    @Test func metadataIsMergedWhenALineIsWrittenWithTheHandlerFirstAndTheStatementLast() {
        let box = Box()
        let provider = Logger.MetadataProvider { ["request": "from-provider", "trace": "t1"] }
        var handler = TextLogHandler(Recorder(box: box, metadataProvider: provider), metadataProvider: provider)
        handler[metadataKey: "node"] = "wales"
        handler[metadataKey: "request"] = "from-handler"
        handler.logLevel = .debug
        #expect(handler.logLevel == .debug)
        #expect(handler[metadataKey: "node"] == "wales")
        handler.log(event: LogEvent(level: .info, message: "hello", metadata: ["trace": "from-statement"], source: "s", file: "f", function: "g", line: 1))
        let events = box.events.withLock { $0 }
        #expect(events.count == 1)
        #expect(events.first?.metadata == ["node": "wales", "request": "from-provider", "trace": "from-statement"])
        #expect(events.first?.message == "hello")
    }

    @Test func noMetadataReachesTheInnerHandlerAsNone() {
        let box = Box()
        let handler = TextLogHandler(Recorder(box: box), metadataProvider: nil)
        handler.log(event: LogEvent(level: .warning, message: "bare", metadata: nil, source: "s", file: "f", function: "g", line: 1))
        #expect(box.events.withLock { $0.first.map { $0.metadata == nil } } == true)
    }
}

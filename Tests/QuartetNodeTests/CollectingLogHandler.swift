import Logging

/// A log handler that gives each line, its message and sorted metadata as text, to `append`.
struct CollectingLogHandler: LogHandler {
    var logLevel: Logger.Level
    let append: @Sendable (String) -> Void
    var metadata: Logger.Metadata = [:]

    init(logLevel: Logger.Level = .debug, _ append: @escaping @Sendable (String) -> Void) {
        self.logLevel = logLevel
        self.append = append
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        append("\(event.message) " + (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }
}

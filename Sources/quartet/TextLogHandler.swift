import Logging

/// `quartet serve --log-format text` (the default): swift-log's `StreamLogHandler` line format
/// on standard error, with the handler's metadata kept here and merged only when a line is
/// written.
///
/// `StreamLogHandler` renders its metadata into a string every time a key is set. Hummingbird
/// sets a request id on every request's logger, so each request paid for rendering it (about
/// 3 % of a `/healthz` answer's CPU, `perf`), although a request below the log level writes
/// nothing. The inner handler is never given metadata of its own; what it would have held is
/// merged with the same precedence (handler, then provider, then the statement's) and handed
/// to it as the event's, so the lines are the ones it writes.
struct TextLogHandler<Inner: LogHandler>: LogHandler {
    private var inner: Inner
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(_ inner: Inner, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.inner = inner
        self.inner.metadataProvider = nil
        self.metadataProvider = metadataProvider
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = Logger.Metadata.merging(handler: metadata, provider: metadataProvider, statement: event.metadata)
        var event = event
        event.metadata = merged.isEmpty ? nil : merged
        inner.log(event: event)
    }
}

extension Logger.Metadata {
    /// What a line carries: the handler's metadata, then the provider's, then the statement's
    /// (a later one wins a key), as swift-log's `StreamLogHandler` merges them.
    static func merging(handler: Logger.Metadata, provider: Logger.MetadataProvider?, statement: Logger.Metadata?) -> Logger.Metadata {
        var merged = handler
        if let provided = provider?.get() { merged.merge(provided) { $1 } }
        if let statement { merged.merge(statement) { $1 } }
        return merged
    }
}

extension TextLogHandler where Inner == StreamLogHandler {
    /// Lines on standard error.
    static func standardError(label: String) -> Self {
        Self(StreamLogHandler.standardError(label: label))
    }
}

/// Why a node cannot start: configuration, federation, data directory or TLS files that do not
/// fit together. The message names the file and what to do.
public struct NodeStartupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

import QuartetLedger

/// What an operator asks to append.
public struct AppendRequest: Sendable {
    /// Entry type, e.g. `progress.reading`.
    public var type: String
    /// `public`, or a data label under an agreement.
    public var classification: String
    /// The operator submitting it.
    public var author: String
    /// UTF-8 JSON; must be an object.
    public var payload: [UInt8]

    public init(type: String, classification: String = EntryHeader.publicClassification, author: String = "", payload: [UInt8]) {
        self.type = type
        self.classification = classification
        self.author = author
        self.payload = payload
    }

    /// Checks the fields and that the payload is a JSON object, naming what is wrong.
    public func validate() throws(StoreError) {
        do {
            try EntryHeader(log: "x", index: 0, timeMillis: 0, type: type, classification: classification, author: author,
                            payloadCommitment: .emptyTree, payloadLength: UInt32(clamping: payload.count)).validate()
        } catch {
            throw StoreError(.invalidInput, error.message)
        }
        do { try JSONValidator.validateObject(payload) } catch {
            throw StoreError(.invalidInput, "payload: \(error.message)")
        }
    }
}

/// The answer to an acknowledged append: the entry is durable when this is returned.
public struct AppendReceipt: Sendable {
    /// The log.
    public let log: String
    /// The entry's index.
    public let index: UInt64
    /// The entry's leaf hash.
    public let leafHash: Hash
    /// The signed checkpoint of the batch that holds the entry.
    public let checkpoint: StoredCheckpoint
}

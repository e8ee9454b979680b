import QuartetLedger
import QuartetStore

// What the offline ledger commands print with `--format json` (the API's own bodies, such as
// `EntryBody` and `ReceiptBody`, come from QuartetAPI).

/// `quartet init`.
struct CreatedLogOutput: Encodable {
    var log, origin, data, key, vkey: String
}

/// `quartet checkpoint`.
struct CheckpointOutput: Encodable {
    var log, origin: String
    var size: UInt64
    var root, note: String
    var timeMillis: UInt64?

    enum CodingKeys: String, CodingKey {
        case log, origin, size, root, note
        case timeMillis = "time_ms"
    }
}

/// `quartet key vkey`.
struct KeyOutput: Encodable {
    var log, origin, vkey, publicKey: String

    enum CodingKeys: String, CodingKey {
        case log, origin, vkey
        case publicKey = "public_key"
    }
}

/// `quartet verify`: every log checked, and every problem (`log` and `index` are `null` when the
/// problem is not in one log or at one entry).
struct VerifyOutput: Encodable {
    struct Log: Encodable {
        var log: String
        var entries: UInt64
        var checkpoints: Int
        var root: String
    }

    struct Problem: Encodable {
        var log: String?
        var index: UInt64?
        var message: String

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(log, forKey: .log)
            try container.encode(index, forKey: .index)
            try container.encode(message, forKey: .message)
        }

        enum CodingKeys: String, CodingKey { case log, index, message }
    }

    var ok: Bool
    var logs: [Log]
    var problems: [Problem]

    init(_ report: VerificationReport) {
        ok = report.isValid
        logs = report.logs.map { Log(log: $0.log, entries: UInt64($0.entries), checkpoints: Int($0.checkpoints), root: $0.root.base64) }
        problems = report.problems.map { Problem(log: $0.log, index: $0.index, message: $0.message) }
    }
}

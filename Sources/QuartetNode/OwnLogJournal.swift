import Foundation
import QuartetAPI
import QuartetPolicy

/// The payload of a `purge.recorded` entry: `{"agreement","entries","log","reason","time"}`.
struct PurgeRecord: Codable, Equatable, Sendable {
    var agreement: String
    var entries: [UInt64]
    var log: String
    var reason: String
    /// ISO 8601, UTC.
    var time: String

    /// One purge's records share these (a purge of many entries is recorded in several).
    struct Identity: Hashable {
        var agreement: String, log: String, reason: String, time: String
    }

    var identity: Identity { Identity(agreement: agreement, log: log, reason: reason, time: time) }

    /// The record split into records of at most `size` entries each (one if it has none).
    func chunks(of size: Int) -> [PurgeRecord] {
        guard entries.count > size else { return [self] }
        return stride(from: 0, to: entries.count, by: size).map {
            var part = self
            part.entries = Array(entries[$0..<min($0 + size, entries.count)])
            return part
        }
    }
}

/// The payload of a `disclosure.recorded` entry:
/// `{"access","agreement","count","log","ranges":[[from,to]],"recipient","time"}`.
struct DisclosureRecord: Codable, Equatable, Sendable {
    var log: String
    var ranges: [[UInt64]]
    var count: Int
    var recipient: String
    var agreement: String
    var access: String
    /// ISO 8601, UTC.
    var time: String
}

/// One line of the recorder's journal (`<data>/pending-records`), compact JSON with sorted keys:
/// a disclosure `{"access","agreement","count","from","kind":"disclosure","log","recipient",
/// "time","to"}` (time in Unix milliseconds), a purge `{"kind":"purge","payload":{...}}` (the
/// record as it goes in the log), or a purge about to commit `{"kind":"purge-starting",
/// "payload":{...}}` (its entries those it may clear; never recorded as such). The format is the
/// one the node wrote before this type, plus `purge-starting`.
enum JournalLine: Codable, Equatable {
    case disclosure(Disclosure)
    case purge(PurgeRecord)
    case purgeStarting(PurgeRecord)

    struct Disclosure: Equatable {
        var recipient: String
        var log: String
        var agreement: String
        var access: Access
        var from: UInt64
        var to: UInt64
        var count: Int
        /// When the disclosure was first gathered (Unix ms); nil if a line lacks it.
        var time: UInt64?
    }

    private enum CodingKeys: String, CodingKey {
        case kind, payload, recipient, log, agreement, access, from, to, count, time
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        switch try c.decodeIfPresent(String.self, forKey: .kind) {
        case "purge":
            self = .purge(try c.decode(PurgeRecord.self, forKey: .payload))
            return
        case "purge-starting":
            self = .purgeStarting(try c.decode(PurgeRecord.self, forKey: .payload))
            return
        default: break
        }
        let accessText = try c.decode(String.self, forKey: .access)
        guard let access = Access(rawValue: accessText) else {
            throw DecodingError.dataCorruptedError(forKey: .access, in: c, debugDescription: "unknown access \"\(accessText)\"")
        }
        let from = try c.decode(UInt64.self, forKey: .from), to = try c.decode(UInt64.self, forKey: .to)
        guard from <= to else { throw DecodingError.dataCorruptedError(forKey: .to, in: c, debugDescription: "to is before from") }
        self = .disclosure(Disclosure(recipient: try c.decode(String.self, forKey: .recipient), log: try c.decode(String.self, forKey: .log),
                                      agreement: try c.decode(String.self, forKey: .agreement), access: access, from: from, to: to,
                                      count: try c.decodeIfPresent(Int.self, forKey: .count) ?? 0,
                                      time: try c.decodeIfPresent(UInt64.self, forKey: .time)))
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .purge(let record):
            try c.encode("purge", forKey: .kind)
            try c.encode(record, forKey: .payload)
        case .purgeStarting(let record):
            try c.encode("purge-starting", forKey: .kind)
            try c.encode(record, forKey: .payload)
        case .disclosure(let d):
            try c.encode("disclosure", forKey: .kind)
            try c.encode(d.recipient, forKey: .recipient)
            try c.encode(d.log, forKey: .log)
            try c.encode(d.agreement, forKey: .agreement)
            try c.encode(d.access.rawValue, forKey: .access)
            try c.encode(d.from, forKey: .from)
            try c.encode(d.to, forKey: .to)
            try c.encode(d.count, forKey: .count)
            try c.encodeIfPresent(d.time, forKey: .time)
        }
    }

    /// The line as written to the journal (without its newline).
    var text: String { String(decoding: Self.encode(self), as: UTF8.self) }

    /// Compact JSON, sorted keys, slashes unescaped (`CompactJSONEncoder`, the node's one writer):
    /// the journal's and the records' form.
    static func encode(_ value: some Encodable) -> [UInt8] {
        // These types' `encode(to:)` write strings and integers only: encoding cannot fail.
        try! CompactJSONEncoder.encode(value)
    }
}

/// A fast reader for the common shape of progress payloads: one JSON object whose values are
/// strings without escapes, numbers in strict JSON grammar, booleans or null. Anything else —
/// nesting, escapes, a repeated key, a number JSON does not allow (`01`, `1.`, `.5`) or a Double
/// cannot hold (`1e400`, `1e-400`), a zero spelt other than `0` or `-0`, bytes that are not
/// UTF-8 — returns nil and the caller decodes with `JSONDecoder`, so this only ever saves time,
/// never changes what is read. The fold reads millions of these.
enum FlatJSON {
    enum Value {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
    }

    static func parse(_ bytes: [UInt8]) -> [String: Value]? {
        bytes.withUnsafeBufferPointer { buffer -> [String: Value]? in
            var i = 0
            let n = buffer.count
            func skip() { while i < n, buffer[i] == 0x20 || buffer[i] == 0x0A || buffer[i] == 0x0D || buffer[i] == 0x09 { i += 1 } }
            func string() -> String? {
                guard i < n, buffer[i] == UInt8(ascii: "\"") else { return nil }
                i += 1
                let start = i
                var ascii = true
                while i < n, buffer[i] != UInt8(ascii: "\"") {
                    if buffer[i] == UInt8(ascii: "\\") || buffer[i] < 0x20 { return nil }
                    if buffer[i] >= 0x80 { ascii = false }
                    i += 1
                }
                guard i < n else { return nil }
                defer { i += 1 }
                let bytes = UnsafeBufferPointer(rebasing: buffer[start..<i])
                return ascii ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
            }
            var out: [String: Value] = [:]
            out.reserveCapacity(8)
            skip()
            guard i < n, buffer[i] == UInt8(ascii: "{") else { return nil }
            i += 1
            skip()
            if i < n, buffer[i] == UInt8(ascii: "}") { i += 1; skip(); return i == n ? out : nil }
            while true {
                skip()
                guard let key = string(), out[key] == nil else { return nil }
                skip()
                guard i < n, buffer[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                skip()
                guard i < n else { return nil }
                switch buffer[i] {
                case UInt8(ascii: "\""):
                    guard let s = string() else { return nil }
                    out[key] = .string(s)
                case UInt8(ascii: "t"):
                    guard i + 4 <= n, Array(buffer[i..<i + 4]) == Array("true".utf8) else { return nil }
                    i += 4
                    out[key] = .bool(true)
                case UInt8(ascii: "f"):
                    guard i + 5 <= n, Array(buffer[i..<i + 5]) == Array("false".utf8) else { return nil }
                    i += 5
                    out[key] = .bool(false)
                case UInt8(ascii: "n"):
                    guard i + 4 <= n, Array(buffer[i..<i + 4]) == Array("null".utf8) else { return nil }
                    i += 4
                    out[key] = .null
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    // RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
                    let start = i
                    func digits() -> Int {
                        let from = i
                        while i < n, buffer[i] >= UInt8(ascii: "0"), buffer[i] <= UInt8(ascii: "9") { i += 1 }
                        return i - from
                    }
                    if buffer[i] == UInt8(ascii: "-") { i += 1 }
                    guard i < n else { return nil }
                    if buffer[i] == UInt8(ascii: "0") {
                        i += 1
                    } else {
                        guard digits() > 0 else { return nil }
                    }
                    if i < n, buffer[i] == UInt8(ascii: ".") {
                        i += 1
                        guard digits() > 0 else { return nil }
                    }
                    if i < n, buffer[i] == UInt8(ascii: "e") || buffer[i] == UInt8(ascii: "E") {
                        i += 1
                        if i < n, buffer[i] == UInt8(ascii: "+") || buffer[i] == UInt8(ascii: "-") { i += 1 }
                        guard digits() > 0 else { return nil }
                    }
                    guard let d = Double(String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<i]), as: UTF8.self)), d.isFinite else { return nil }
                    // JSONDecoder refuses a non-zero number too small for a Double (`1e-400`) and
                    // some spellings of zero (`-0.0e-3`, `0.00e-1`) rather than reading 0: any zero
                    // but `0` and `-0` is left to it, or the fold would read 0 where it fails.
                    if d == 0, i - start > (buffer[start] == UInt8(ascii: "-") ? 2 : 1) { return nil }
                    out[key] = .number(d)
                default:
                    return nil
                }
                skip()
                guard i < n else { return nil }
                if buffer[i] == UInt8(ascii: ",") { i += 1; continue }
                guard buffer[i] == UInt8(ascii: "}") else { return nil }
                i += 1
                skip()
                return i == n ? out : nil
            }
        }
    }

    /// The fields as the full parser (`JSONValue.parse`) reads the same bytes: every payload
    /// this reader reads is one that parser reads to these values (no escapes, numbers and
    /// zeros both accept alike, no repeated key).
    static func value(_ f: [String: Value]) -> JSONValue {
        .object(f.mapValues { value in
            switch value {
            case .string(let s): return .string(s)
            case .number(let d): return .number(d)
            case .bool(let b): return .bool(b)
            case .null: return .null
            }
        })
    }

    static func readingPayload(_ f: [String: Value]) -> ReadingPayload? {
        guard case .string(let measure)? = f["measure"], case .string(let period)? = f["period"] else { return nil }
        var p = ReadingPayload(measure: measure, period: period)
        switch f["value"] { case .number(let v)?: p.value = v; case nil, .null?: break; default: return nil }
        switch f["achieved"] { case .bool(let b)?: p.achieved = b; case nil, .null?: break; default: return nil }
        switch f["text"] { case .string(let t)?: p.text = t; case nil, .null?: break; default: return nil }
        switch f["note"] { case .string(let t)?: p.note = t; case nil, .null?: break; default: return nil }
        if f["categories"] != nil { return nil }
        return p
    }

    static func statusPayload(_ f: [String: Value]) -> StatusPayload? {
        guard case .string(let action)? = f["action"], case .string(let statusText)? = f["status"],
              let status = ActionStatus(rawValue: statusText), case .string(let asOf)? = f["as_of"] else { return nil }
        var note: String?
        switch f["note"] { case .string(let t)?: note = t; case nil, .null?: break; default: return nil }
        return StatusPayload(action: action, status: status, note: note, as_of: asOf)
    }
}

import Foundation

/// Reads the fields of one JSON object, refusing what the schema does not allow, each error
/// naming the field's path.
struct FieldReader {
    let path: String
    let fields: [String: JSONValue]

    init(_ value: JSONValue, path: String) throws(PlanError) {
        guard case .object(let fields) = value else { throw PlanError("\(path): expected an object, got \(value.described)") }
        self.path = path
        self.fields = fields
    }

    func at(_ key: String) -> String { "\(path).\(key)" }

    /// `known` is a handful of names, scanned (a set made from the literal on every entry cost
    /// more than the scans: every fold runs this).
    func refuseUnknown(_ known: [String]) throws(PlanError) {
        // Sorted only to name the first unknown one: the usual entry has none.
        guard fields.keys.contains(where: { !known.contains($0) }) else { return }
        if let key = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw PlanError("\(at(key)): unknown field; expected only \(known.sorted().joined(separator: ", "))")
        }
    }

    func has(_ key: String) -> Bool {
        if let value = fields[key], value != .null { return true }
        return false
    }

    func string(_ key: String, maxLength: Int = 4096) throws(PlanError) -> String {
        guard let value = fields[key] else { throw PlanError("\(at(key)): missing; expected a string") }
        guard case .string(let text) = value else { throw PlanError("\(at(key)): expected a string, got \(value.described)") }
        // One pass over the scalars for the three checks below (every fold runs them on every
        // field), made in the order they are reported.
        var blank = true
        var length = 0
        var control: (offset: Int, scalar: Unicode.Scalar)?
        for scalar in text.unicodeScalars {
            if blank, !Self.isBlankScalar(scalar) { blank = false }
            if control == nil, ShownText.isControl(scalar, allowingLines: true) { control = (length, scalar) }
            length += 1
        }
        guard !blank else { throw PlanError("\(at(key)): expected a non-empty string") }
        // Counted in Unicode scalars, not the characters a reader sees: a letter followed by a
        // megabyte of combining marks is one character, and every node stores, folds and
        // searches what was meant to be at most `maxLength`.
        guard length <= maxLength else { throw PlanError("\(at(key)): at most \(maxLength) characters (Unicode scalars), got \(length)") }
        if let control { throw Self.controlRefusal(control.scalar, offset: control.offset, at: at(key), lines: true, what: "a name") }
        return text
    }

    /// Whether `text` is empty or all white space (Foundation's `whitespacesAndNewlines`: the
    /// Unicode White_Space property, which is that set). A scan that stops at the first other
    /// scalar: `trimmingCharacters(in:)` made a new string through NSString for every field of
    /// every entry, a fifth of the view's fold once every node ran the append's checks there.
    /// (Foundation here counts U+200B, the zero-width space, as white space too; so does this.)
    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy(isBlankScalar)
    }

    /// One scalar of `isBlank`: ASCII answered without the property tables.
    static func isBlankScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return scalar.value == 0x20 || (0x09...0x0D).contains(scalar.value) }
        return scalar.properties.isWhitespace || scalar == "\u{200B}"
    }

    /// A category's name is blank when all tab and space separators (Foundation's `whitespaces`).
    static func isBlankName(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 == "\t" || $0 == "\u{200B}" || $0.properties.generalCategory == .spaceSeparator }
    }

    /// Plan and progress text is read in terminals (`quartet view`), pages and CSV files on
    /// every node: control characters (but tab and newline), and the bidirectional overrides
    /// and isolates that reorder what a reader sees, are refused, naming the first and where.
    /// `lines`: tab and newline are allowed (notes, statements); a name allows neither.
    /// `what`: the kind of text that allows none, for the message.
    static func refuseControls(_ text: String, at path: @autoclosure () -> String, lines: Bool = true, what: String = "a name") throws(PlanError) {
        for (offset, scalar) in text.unicodeScalars.enumerated() where ShownText.isControl(scalar, allowingLines: lines) {
            throw controlRefusal(scalar, offset: offset, at: path(), lines: lines, what: what)
        }
    }

    static func controlRefusal(_ scalar: Unicode.Scalar, offset: Int, at path: String, lines: Bool, what: String) -> PlanError {
        PlanError("\(path): a control character U+\(String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)) at character \(offset + 1); \(lines ? "only tab and newline are allowed" : "\(what) allows none")")
    }


    func optionalString(_ key: String, maxLength: Int = 4096) throws(PlanError) -> String? {
        has(key) ? try string(key, maxLength: maxLength) : nil
    }

    func matching(_ key: String, _ pattern: IDPattern) throws(PlanError) -> String {
        let text = try string(key, maxLength: 64)
        guard pattern.matches(text) else { throw PlanError("\(at(key)): expected \(pattern.description), got \"\(text)\"") }
        return text
    }

    func oneOf(_ key: String, _ allowed: [String]) throws(PlanError) -> String {
        let text = try string(key, maxLength: 64)
        guard allowed.contains(text) else {
            throw PlanError("\(at(key)): expected one of \(allowed.joined(separator: ", ")), got \"\(text)\"")
        }
        return text
    }

    func number(_ key: String) throws(PlanError) -> Double {
        guard let value = fields[key] else { throw PlanError("\(at(key)): missing; expected a number") }
        guard case .number(let number) = value, number.isFinite else { throw PlanError("\(at(key)): expected a number, got \(value.described)") }
        return number
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(PlanError) -> Int {
        let number = try number(key)
        guard number == number.rounded(), let value = Int(exactly: number), range.contains(value) else {
            // (A whole number shown as one: `-2024`, not `-2024.0`.)
            let shown = number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : "\(number)"
            throw PlanError("\(at(key)): expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(shown)")
        }
        return value
    }

    func optionalInteger(_ key: String, in range: ClosedRange<Int>) throws(PlanError) -> Int? {
        has(key) ? try integer(key, in: range) : nil
    }

    func bool(_ key: String) throws(PlanError) -> Bool {
        guard let value = fields[key] else { throw PlanError("\(at(key)): missing; expected true or false") }
        guard case .bool(let flag) = value else { throw PlanError("\(at(key)): expected true or false, got \(value.described)") }
        return flag
    }

    func strings(_ key: String, required: Bool, pattern: IDPattern? = nil, maxCount: Int = 100, maxLength: Int? = nil) throws(PlanError) -> [String] {
        guard let value = fields[key], value != .null else {
            if required { throw PlanError("\(at(key)): missing; expected an array of strings") }
            return []
        }
        guard case .array(let items) = value else { throw PlanError("\(at(key)): expected an array of strings, got \(value.described)") }
        if required && items.isEmpty { throw PlanError("\(at(key)): expected at least one item") }
        guard items.count <= maxCount else { throw PlanError("\(at(key)): at most \(maxCount) items, got \(items.count)") }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let text) = item, !text.isEmpty else { throw PlanError("\(at(key))[\(i)]: expected a non-empty string, got \(item.described)") }
            // The length first (a string's UTF-8 bytes bound its scalars: most need no count),
            // before the scans that read it all.
            if let maxLength, text.utf8.count > maxLength {
                let length = text.unicodeScalars.count
                guard length <= maxLength else { throw PlanError("\(at(key))[\(i)]: at most \(maxLength) characters (Unicode scalars), got \(length)") }
            }
            try Self.refuseControls(text, at: "\(at(key))[\(i)]")
            if let pattern, !pattern.matches(text) { throw PlanError("\(at(key))[\(i)]: expected \(pattern.description), got \"\(text)\"") }
            out.append(text)
        }
        return out
    }

    func object(_ key: String) throws(PlanError) -> FieldReader {
        guard let value = fields[key] else { throw PlanError("\(at(key)): missing; expected an object") }
        return try FieldReader(value, path: at(key))
    }

    func date(_ key: String) throws(PlanError) -> String {
        let text = try string(key, maxLength: 10)
        guard PlanDate.isValid(text) else { throw PlanError("\(at(key)): expected a date as YYYY-MM-DD, got \"\(text)\"") }
        return text
    }

    func link(_ key: String) throws(PlanError) -> String {
        let text = try string(key, maxLength: 2048)
        // As the fold checks it (`ShownPayload`): a link holds no tab or newline either.
        try Self.refuseControls(text, at: at(key), lines: false, what: "a link")
        guard let url = URL(string: text), ["https", "http"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
            throw PlanError("\(at(key)): expected an http(s) URL, got \"\(text)\"")
        }
        return text
    }
}

/// The identifier shapes of the plans: priorities `P1`, actions `P1.A2`, measures `P1.A2.M3`.
enum IDPattern: CustomStringConvertible {
    case priority, action, measure

    /// Letter, then 1–3 ASCII digits not starting with 0, per dot-separated part: read as
    /// bytes (every node's fold checks every id). Only ASCII matches, so a byte that is not
    /// (a combining mark, a lookalike letter) fails as it did when read by characters.
    func matches(_ text: String) -> Bool {
        let letters: [UInt8]
        switch self {
        case .priority: letters = [UInt8(ascii: "P")]
        case .action: letters = [UInt8(ascii: "P"), UInt8(ascii: "A")]
        case .measure: letters = [UInt8(ascii: "P"), UInt8(ascii: "A"), UInt8(ascii: "M")]
        }
        var part = 0, position = 0, digits = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") {
                guard position > 0, digits >= 1 else { return false }
                part += 1
                position = 0
                digits = 0
                continue
            }
            guard part < letters.count else { return false }
            if position == 0 {
                guard byte == letters[part] else { return false }
            } else {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), !(position == 1 && byte == UInt8(ascii: "0")), digits < 3 else { return false }
                digits += 1
            }
            position += 1
        }
        return part == letters.count - 1 && digits >= 1
    }

    var description: String {
        switch self {
        case .priority: return "a priority id like P1"
        case .action: return "an action id like P1.A2"
        case .measure: return "a measure id like P1.A2.M3"
        }
    }
}

extension String {
    /// Zeros put before, to `width` characters (hex codes: U+00AD).
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

/// Text people read (terminals, pages, CSV files): the one rule for the characters it must not
/// hold raw, used where text is admitted (`FieldReader`), where it is printed (`TerminalText`)
/// and where it is signed (`agreement sign --purpose`).
public enum ShownText {
    /// C0 and C1 control characters and DEL, and the bidirectional overrides and isolates that
    /// reorder what a reader sees; tab and newline too unless `allowingLines`.
    public static func isControl(_ scalar: Unicode.Scalar, allowingLines: Bool = false) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A: !allowingLines
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Marks that show nothing (zero-width spaces and joiners, the left-to-right, right-to-left
    /// and Arabic letter marks, word joiner and invisible operators, the byte order mark): two
    /// names that differ only by them look the same. Refused in names that identify something
    /// (a federation's); text in other scripts may need the joiners, so plan text keeps them.
    public static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x200B...0x200F, 0x2060...0x2064, 0xFEFF, 0x061C, 0x00AD, 0x180E: true
        default: false
        }
    }

    /// The separators the displays quote a name by when it holds one (`ViewQueries.categories`,
    /// `CSV.field`): `=` `;` `:` `,` and the quote.
    static let separators: Set<Unicode.Scalar> = ["=", ";", ":", ",", "\""]

    /// Characters whose compatibility form (NFKC) holds a separator: U+037E (which even
    /// canonical equivalence makes `;`), the superscript and subscript equals, the double colon
    /// equals and its kin, the vertical, small and full-width forms, and the digit-comma
    /// symbols (`CategoriesTextTests` checks the list against Foundation's NFKC over the BMP).
    static let separatorForms: Set<UInt32> = [
        0x037E, 0x207C, 0x208C, 0x2A74, 0x2A75, 0x2A76, 0xFE10, 0xFE13, 0xFE14, 0xFE50, 0xFE54, 0xFE55, 0xFE66,
        0xFF02, 0xFF0C, 0xFF1A, 0xFF1B, 0xFF1D, 0x1F101, 0x1F102, 0x1F103, 0x1F104, 0x1F105, 0x1F106, 0x1F107, 0x1F108,
        0x1F109, 0x1F10A,
    ]

    /// Characters drawn like a separator that compatibility mapping keeps apart from it: colons
    /// (modifier letter, ratio, triangular, Armenian, Hebrew, runic, two-dot, Lisu, Devanagari
    /// visarga, Mongolian, Ethiopic), equals signs (modifier letter short, double hyphen, katakana
    /// double hyphen, Canadian syllabics hyphen), commas (low-9, Arabic and its decimal separator,
    /// Ethiopic, ideographic and half-width, reversed), semicolons (Arabic, reversed, Ethiopic)
    /// and double quotes (curly, low and reversed ones, modifier double prime and apostrophe,
    /// double prime, gershayim, ditto mark). Not every look-alike there is: names are refused
    /// for these, and shown quoted with them escaped, as a second line behind the rest.
    static let separatorLookAlikes: Set<UInt32> = [
        0xA789, 0x2236, 0x02D0, 0x02F8, 0x0589, 0x05C3, 0x16EC, 0x205A, 0xA4FD, 0x0903, 0x1804, 0x1365,
        0xA78A, 0x2E40, 0x30A0, 0x1400,
        0x201A, 0x060C, 0x066B, 0x1363, 0x3001, 0xFF64, 0x2E41,
        0x061B, 0x204F, 0x1364,
        0x201C, 0x201D, 0x201E, 0x201F, 0x2E42, 0x02BA, 0x02EE, 0x2033, 0x05F4, 0x3003,
    ]

    /// Whether `scalar` reads as one of `separators` without being it: its compatibility form
    /// holds one (`separatorForms`), or it is drawn like one (`separatorLookAlikes`). A set
    /// lookup: it runs for every character of names shown in CSV and on pages.
    public static func readsAsSeparator(_ scalar: Unicode.Scalar) -> Bool {
        !scalar.isASCII && (separatorForms.contains(scalar.value) || separatorLookAlikes.contains(scalar.value))
    }

    /// Why `name` — a name readers tell things apart by: a distribution's category, a measure's
    /// unit, a dataset, a table's dimensions and rows — could read as another name or as more
    /// than one; nil if it cannot. An invisible character (a default-ignorable code point: the
    /// zero-width spaces and joiners, the bidirectional marks that reorder the digits after
    /// them, the grapheme joiner, variation selectors, fillers, the soft hyphen) makes two names
    /// look alike; a character that reads as a separator makes one name read as several
    /// (`readsAsSeparator`). Plain text (titles, summaries) keeps them: scripts need joiners.
    public static func unclearName(_ name: String) -> String? {
        for (offset, scalar) in name.unicodeScalars.enumerated() {
            let code = "U+" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
            if scalar.properties.isDefaultIgnorableCodePoint || isInvisible(scalar) {
                return "an invisible character \(code) at character \(offset + 1): a name must not look like another"
            }
            if scalar.properties.isWhitespace && scalar != " " {
                return "a space other than the plain space, \(code), at character \(offset + 1): a name must not look like another"
            }
            if readsAsSeparator(scalar) {
                return "\(code) at character \(offset + 1) reads as a separator (= ; : , or a quote) without being one: a name must not read as several"
            }
        }
        return nil
    }
}

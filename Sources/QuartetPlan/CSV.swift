/// CSV fields for spreadsheets (RFC 4180), made safe against formula injection. One writer for
/// the view's tables and the owner's audit download.
///
/// Everything is decided by Unicode scalar, never by `Character`: a `Character` merges a quote,
/// comma or line break with a following combining mark (`"` + U+0301) or merges CR LF into one
/// grapheme, which compares unequal to `"` or `"\n"`, so a Character-based writer left such a
/// field unquoted or its quote undoubled, and an entry's text could end its cell and start a
/// new one holding a formula.
public enum CSV {
    /// Scalars that make a spreadsheet read a cell as a formula when they start it (OWASP's
    /// list, with line feed).
    static let formulaStarts: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r", "\n"]

    /// One field. A field starting with a formula scalar gets a leading apostrophe unless it is
    /// a plain decimal number (`-2`, `1.5e3`); a field holding a comma, quote, CR or LF is
    /// quoted with its quotes doubled (`quoteAll`: every field is quoted). A semicolon or a tab
    /// is quoted too. Quoting does not hold everywhere: a spreadsheet in a locale that splits on
    /// `;` (or a paste split on tabs, or one that takes every line break as a new row) starts a
    /// new cell at a `;`, tab or line break inside the field, and reads a quote as special only
    /// where a cell begins, so this field's quotes are literal there. So a formula scalar where
    /// such a cell would begin (after a separator, past any quotes and spaces) gets an
    /// apostrophe too (finding 290).
    public static func field(_ text: String, quoteAll: Bool = false) -> String {
        var scalars = text.unicodeScalars[...]
        var defuse = false
        if let first = scalars.first, formulaStarts.contains(first), !isPlainNumber(scalars) { defuse = true }
        // A character that reads as a separator (U+037E, which normalising makes `;`) is quoted
        // as the separator is (finding 283).
        let needsQuotes = quoteAll || scalars.contains { $0 == "," || $0 == ";" || $0 == "\t" || $0 == "\"" || $0 == "\n" || $0 == "\r" || ShownText.readsAsSeparator($0) }
        var out = String.UnicodeScalarView()
        if needsQuotes { out.append("\"") }
        if defuse { out.append("'") }
        // Whether a cell would begin here in a spreadsheet that splits where this field does not
        // (and at the field's start, past leading spaces or quotes, unless defused or a number).
        var cellStart = !defuse && !isPlainNumber(scalars)
        while let scalar = scalars.popFirst() {
            if cellStart, formulaStarts.contains(scalar), !isCellBreak(scalar) { out.append("'") }
            out.append(scalar)
            if scalar == "\"" { out.append("\"") }
            if isCellBreak(scalar) { cellStart = true } else if scalar != "\"" && scalar != " " { cellStart = false }
        }
        if needsQuotes { out.append("\"") }
        return String(out)
    }

    /// Where some spreadsheet starts a new cell or row: `,` `;` tab, CR, LF, and what reads as a separator.
    static func isCellBreak(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "," || scalar == ";" || scalar == "\t" || scalar == "\n" || scalar == "\r" || ShownText.readsAsSeparator(scalar)
    }

    /// One line of fields joined by commas, ended by `terminator`.
    public static func line(_ fields: [String], quoteAll: Bool = false, terminator: String = "\r\n") -> String {
        fields.map { field($0, quoteAll: quoteAll) }.joined(separator: ",") + terminator
    }

    /// `-?digits(.digits)?([eE][-+]?digits)?`, ASCII only: what the view writes for a number.
    static func isPlainNumber(_ scalars: Substring.UnicodeScalarView) -> Bool {
        var s = scalars
        func digits() -> Bool {
            var any = false
            while let c = s.first, ("0"..."9").contains(c) { s.removeFirst(); any = true }
            return any
        }
        if s.first == "-" { s.removeFirst() }
        guard digits() else { return false }
        if s.first == "." { s.removeFirst(); guard digits() else { return false } }
        if s.first == "e" || s.first == "E" {
            s.removeFirst()
            if s.first == "-" || s.first == "+" { s.removeFirst() }
            guard digits() else { return false }
        }
        return s.isEmpty
    }
}

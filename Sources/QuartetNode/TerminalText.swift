import QuartetPlan

/// Text from a node's answer (or a file) printed on a terminal: control characters, tab and
/// newline included, and the bidirectional overrides and isolates are shown escaped (`\n`,
/// `\u{1B}`; a backslash as `\\`, so no escape can be faked), so no field can forge another line
/// of the output or drive the terminal. Lines the command itself breaks are printed one call
/// each.
public enum TerminalText {
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else { out.unicodeScalars.append(scalar); continue }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default: out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            }
        }
        return out
    }

    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\\" || ShownText.isControl(scalar)
    }
}

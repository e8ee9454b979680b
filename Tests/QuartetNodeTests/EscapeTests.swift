@testable import QuartetNode
import Testing

/// HTML escaping by Unicode scalar: no grapheme cluster can smuggle markup through.
@Suite struct EscapeTests {
    @Test func aPrependMarkCannotCarryALessThanSignThrough() {
        // U+0600 (Arabic number sign) is a prepend mark: "\u{600}<" is one Character, unequal to "<".
        #expect(Array("\u{600}<b>").count == 3)
        let escaped = Dashboard.escape("\u{600}<b>")
        #expect(!escaped.contains("<") && !escaped.unicodeScalars.contains("<"), "\(escaped)")
        #expect(escaped == "\u{600}&lt;b&gt;")
    }

    @Test func combiningMarksQuotesAndControlCharacters() {
        for hostile in ["<\u{301}meta http-equiv=refresh content=0;url=https://evil.example>", "\"\u{301} onload=x", "'\u{20DD}", "&\u{301}amp;"] {
            let escaped = Dashboard.escape(hostile)
            for scalar in ["<", ">", "\"", "'"] as [Unicode.Scalar] {
                #expect(!escaped.unicodeScalars.contains(scalar), "\(hostile) -> \(escaped)")
            }
        }
        #expect(Dashboard.escape("a\u{1B}[2Jb\u{85}c\nd") == "a\u{FFFD}[2Jb\u{FFFD}c\nd")
    }
}

/// What the CLI prints of a node's answer: no field can break a line or drive the terminal.
@Suite struct TerminalTextTests {
    @Test func controlsNewlinesAndBidiOverridesAreShownEscaped() {
        #expect(TerminalText.escaped("wales P1.A1 on-track") == "wales P1.A1 on-track")
        #expect(TerminalText.escaped("X\r\u{1B}[2K  england P1.A1 done\n") == "X\\r\\u{1B}[2K  england P1.A1 done\\n")
        #expect(TerminalText.escaped("a\tb\u{85}c\u{202E}d\u{2066}é") == "a\\tb\\u{85}c\\u{202E}d\\u{2066}é")
        // A literal backslash-n is not shown as an escaped newline.
        #expect(TerminalText.escaped("x\\n") == "x\\\\n" && TerminalText.escaped("x\n") == "x\\n")
    }
}

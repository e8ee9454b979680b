import Foundation
@testable import QuartetPlan
import Testing

/// CSV fields against formula injection, decided by Unicode scalar.
@Suite struct CSVTests {
    /// A CSV reader by Unicode scalar (as spreadsheets and Python's csv read bytes): RFC 4180 —
    /// cells at `,`, records at CR, LF or CR LF, a quote opening a quoted run — or, with
    /// `semicolonLocale`, as a spreadsheet whose list separator is `;` reads the file: cells at
    /// `;` and tab as well as line breaks, and a quote special only as a cell's first character
    /// (elsewhere literal).
    static func read(_ text: String, semicolonLocale: Bool = false) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], cell = String.UnicodeScalarView()
        var quoted = false, started = false, i = 0
        let scalars = Array(text.unicodeScalars)
        func endCell() { row.append(String(cell)); cell = .init(); started = false }
        while i < scalars.count {
            let c = scalars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < scalars.count, scalars[i + 1] == "\"" { cell.append("\""); i += 1 } else { quoted = false }
                } else { cell.append(c) }
            } else if c == "\"", !(semicolonLocale && started) { quoted = true; started = true
            } else if semicolonLocale ? (c == ";" || c == "\t") : c == "," { endCell()
            } else if c == "\r" || c == "\n" {
                if c == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
                endCell(); rows.append(row); row = []
            } else { cell.append(c); started = true }
            i += 1
        }
        if !cell.isEmpty || !row.isEmpty { endCell(); rows.append(row) }
        return rows
    }

    static func parse(_ text: String) -> [[String]] { read(text) }

    static let hostile = [
        "row\r\n=1+2",            // CR LF is one Character
        "q\"\u{301},=3+4,",       // a quote merged with a combining mark
        "=\u{301}HYPERLINK(\"http://x\")", // a formula start merged with a combining mark
        "\u{600}<x>,\"", "plain", "-2", "1.5e3", "-1+2", "+1", "@SUM(A1)", "\tx", "a\nb", "",
    ]

    @Test(arguments: [false, true])
    func everyHostileFieldReadsBackAsOneCellAndNoCellStartsAFormula(quoteAll: Bool) {
        let text = CSV.line(Self.hostile, quoteAll: quoteAll) + CSV.line(["after", "row"], quoteAll: quoteAll)
        let rows = Self.parse(text)
        #expect(rows.count == 2, "\(rows)")
        #expect(rows.last == ["after", "row"])
        let cells = rows.first ?? []
        #expect(cells.count == Self.hostile.count)
        for (cell, field) in zip(cells, Self.hostile) {
            if let first = field.unicodeScalars.first, CSV.formulaStarts.contains(first), !["-2"].contains(field) {
                #expect(cell.hasPrefix("'"), "\(field.debugDescription) -> \(cell.debugDescription)")
            }
            // The text read back is the field's, with apostrophes only where a cell could begin.
            #expect(cell.replacingOccurrences(of: "'", with: "") == field, "\(field.debugDescription) -> \(cell.debugDescription)")
            if field != "-2" { #expect(cell.unicodeScalars.first.map { !CSV.formulaStarts.contains($0) } ?? true, "\(cell.debugDescription)") }
        }
    }

    /// Every cell a `;`-locale spreadsheet makes of `text`, rows run together.
    static func semicolonLocaleCells(_ text: String) -> [String] { read(text, semicolonLocale: true).flatMap { $0 } }

    /// A `;`, tab or line break inside a field starts a cell in a `;`-locale spreadsheet, where
    /// this field's quotes are literal: no such cell may begin with a formula (finding 290).
    @Test(arguments: [false, true])
    func noCellStartsAFormulaInASemicolonLocale(quoteAll: Bool) {
        let texts = ["x;=1+1;y", "x\n=1+1", "x\r\n@SUM(1)", "x\u{37E}=1+1", "x; \"=HYPERLINK(1)", "x;+1", "x\t-1+2", "x,=1", "a;b"]
        for text in texts {
            let line = CSV.line(["P1.A1.M1", text, "wales"], quoteAll: quoteAll)
            for cell in Self.semicolonLocaleCells(line) {
                let visible = cell.unicodeScalars.drop { $0 == " " || $0 == "\"" }
                #expect(visible.first.map { !["=", "+", "-", "@"].contains($0) } ?? true, "\(text.debugDescription): cell \(cell.debugDescription) of \(line.debugDescription)")
            }
            // Read as RFC 4180, the field is the text with apostrophes only before formula starts.
            let read = Self.parse(line).first ?? []
            #expect(read.count == 3 && read[1].replacingOccurrences(of: "'", with: "") == text, "\(read)")
        }
        #expect(CSV.field("a;b") == "\"a;b\"", "nothing to defuse: unchanged but quoted")
        // At the field's start too, past spaces or quotes; a number stays a number.
        #expect(CSV.field(" =1+1") == " '=1+1")
        #expect(CSV.field("\" @SUM(1)") == "\"\"\" '@SUM(1)\"")
        #expect(CSV.field("-2") == "-2" && CSV.field("=1") == "'=1")
    }

    @Test func plainNumbersStayNumbers() {
        #expect(CSV.field("-2") == "-2")
        #expect(CSV.field("-0.25e-3") == "-0.25e-3")
        #expect(CSV.field("-inf") == "'-inf")
        #expect(CSV.field("-1.") == "'-1.")
        #expect(CSV.field("a,b") == "\"a,b\"")
        // A semicolon (or tab) would start a new cell where the spreadsheet splits on it, and
        // there the quotes are literal: quoted, and the formula after it defused (finding 290).
        #expect(CSV.field("a;=HYPERLINK(\"x\")") == "\"a;'=HYPERLINK(\"\"x\"\")\"")
        #expect(CSV.field("a\t=1") == "\"a\t'=1\"")
        #expect(CSV.field("ok", quoteAll: true) == "\"ok\"")
        // A character that reads as a separator (U+037E, which normalising makes `;`) is quoted
        // as the separator is (finding 283).
        #expect(CSV.field("x\u{037E}=HYPERLINK(1)") == "\"x\u{037E}'=HYPERLINK(1)\"")
        #expect(CSV.field("x\u{FF1B}1") == "\"x\u{FF1B}1\"")
    }
}

/// A distribution written as one text: a category's name cannot read as more categories.
@Suite struct CategoriesTextTests {
    @Test func aNameHoldingASeparatorIsQuotedSoTheTextReadsBackAsTheEntrysCategories() {
        let hostile: [String: Double] = ["Band 5": 3, "Band 6=40; Band 7": 2]
        #expect(ViewQueries.categories(hostile) == #"Band 5=3; "Band 6=40; Band 7"=2"#)
        #expect(ViewQueries.categories(["a: 1, b": 2], pair: ": ", separator: ", ") == #""a: 1, b": 2"#)
        #expect(ViewQueries.categories(["say \"hi\"": 1, " edge": 2]) == #"" edge"=2; "say \"hi\""=1"#)
        // A look-alike colon and low comma, or a right-to-left mark, leave the name quoted with
        // those characters escaped: seen, not read as two categories (finding 283).
        let lookalike = ViewQueries.categories(["Band 6\u{A789} 40\u{201A} Band 7": 2], pair: ": ", separator: ", ")
        #expect(lookalike == #""Band 6\ua789 40\u201a Band 7": 2"#, "\(lookalike)")
        #expect(ViewQueries.categories(["12\u{200F} 34": 1]) == #""12\u200f 34"=1"#)
        #expect(ViewQueries.categories(["Gwâith": 1]) == "Gwâith=1")
        // The characters whose compatibility form holds a separator are exactly the listed ones
        // (Foundation's NFKC over the basic plane; the digit-comma symbols beyond it).
        let separators: Set<Unicode.Scalar> = ["=", ";", ":", ",", "\""]
        var found: [UInt32] = []
        for value in UInt32(0x80)...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            if String(scalar).precomposedStringWithCompatibilityMapping.unicodeScalars.contains(where: { separators.contains($0) }) { found.append(value) }
        }
        #expect(Set(found) == ShownText.separatorForms.filter { $0 <= 0xFFFF }, "\(found.map { String($0, radix: 16) })")
        #expect(ShownText.readsAsSeparator("\u{1F102}") && !ShownText.readsAsSeparator("é") && !ShownText.readsAsSeparator(";"))
        // Plain names as before, and characters that separate nothing in this text.
        #expect(ViewQueries.categories(["Band 5": 3, "Band 6": 4.5]) == "Band 5=3; Band 6=4.5")
        #expect(ViewQueries.categories(["Aged 16-24, employed": 3, "Ratio 1:2": 1]) == "Aged 16-24, employed=3; Ratio 1:2=1")
        #expect(ViewQueries.categories(["Band 6=40": 3], pair: ": ", separator: ", ") == "Band 6=40: 3")
        // Read back by the rule (a quoted name is a JSON string): exactly the entry's two names.
        let text = ViewQueries.categories(hostile)
        var names: [String] = [], i = text.startIndex
        while i < text.endIndex {
            if text[i] == "\"" {
                var j = text.index(after: i)
                while text[j] != "\"" { if text[j] == "\\" { j = text.index(after: j) }; j = text.index(after: j) }
                names.append(String(text[text.index(after: i)..<j])); i = text.index(after: j)
            } else {
                let end = text[i...].firstIndex(of: "=")!
                names.append(String(text[i..<end])); i = end
            }
            i = text[i...].firstIndex(of: ";").map { text.index($0, offsetBy: 2) } ?? text.endIndex
        }
        #expect(names == ["Band 5", "Band 6=40; Band 7"])
    }
}

/// The matrix's percentage: 100 only when every action is on track or done, 0 only when none is.
@Suite struct WholePercentTests {
    @Test func onlyEverythingIsAHundredAndOnlyNothingIsNought() {
        #expect(ViewQueries.wholePercent(199.0 / 200) == 99)
        #expect(ViewQueries.wholePercent(1) == 100)
        #expect(ViewQueries.wholePercent(0) == 0)
        #expect(ViewQueries.wholePercent(1.0 / 400) == 1)
        #expect(ViewQueries.wholePercent(0.5) == 50)
        #expect(ViewQueries.wholePercent(2.0 / 3) == 67)
        #expect(ViewQueries.wholePercent(.nan) == 0)
        #expect(ViewQueries.wholePercent(1.5) == 100)
    }
}

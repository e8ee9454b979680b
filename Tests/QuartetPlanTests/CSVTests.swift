@testable import QuartetPlan
import Testing

/// CSV fields against formula injection, decided by Unicode scalar.
@Suite struct CSVTests {
    /// An RFC 4180 reader by Unicode scalar (as spreadsheets and Python's csv read bytes): the
    /// cells of one CSV text.
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], cell = String.UnicodeScalarView()
        var quoted = false, scalars = Array(text.unicodeScalars), i = 0
        while i < scalars.count {
            let c = scalars[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < scalars.count, scalars[i + 1] == "\"" { cell.append("\""); i += 1 } else { quoted = false }
                } else { cell.append(c) }
            } else if c == "\"" { quoted = true
            } else if c == "," { row.append(String(cell)); cell = .init()
            } else if c == "\r" || c == "\n" {
                if c == "\r", i + 1 < scalars.count, scalars[i + 1] == "\n" { i += 1 }
                row.append(String(cell)); cell = .init(); rows.append(row); row = []
            } else { cell.append(c) }
            i += 1
        }
        if !cell.isEmpty || !row.isEmpty { row.append(String(cell)); rows.append(row) }
        return rows
    }

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
                #expect(cell == "'" + field, "\(field.debugDescription) -> \(cell.debugDescription)")
            } else {
                #expect(cell == field, "\(field.debugDescription) -> \(cell.debugDescription)")
            }
            if field != "-2" { #expect(cell.unicodeScalars.first.map { !CSV.formulaStarts.contains($0) } ?? true, "\(cell.debugDescription)") }
        }
    }

    @Test func plainNumbersStayNumbers() {
        #expect(CSV.field("-2") == "-2")
        #expect(CSV.field("-0.25e-3") == "-0.25e-3")
        #expect(CSV.field("-inf") == "'-inf")
        #expect(CSV.field("-1.") == "'-1.")
        #expect(CSV.field("a,b") == "\"a,b\"")
        // A semicolon (or tab) would start a new cell where the spreadsheet splits on it.
        #expect(CSV.field("a;=HYPERLINK(\"x\")") == "\"a;=HYPERLINK(\"\"x\"\")\"")
        #expect(CSV.field("a\t=1") == "\"a\t=1\"")
        #expect(CSV.field("ok", quoteAll: true) == "\"ok\"")
    }
}

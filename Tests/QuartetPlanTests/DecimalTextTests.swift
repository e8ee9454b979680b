import QuartetPlan
import Testing

/// The one reader of a number a person types (the web form, `quartet record reading --value`).
@Suite struct DecimalTextTests {
    @Test func aDecimalAsAPersonWritesOneIsRead() {
        #expect(DecimalText.parse("12") == 12)
        #expect(DecimalText.parse("12.5") == 12.5)
        #expect(DecimalText.parse("-3") == -3)
        #expect(DecimalText.parse("1.5e3") == 1500)
        #expect(DecimalText.parse("1E-2") == 0.01)
        #expect(DecimalText.parse("0") == 0)
        #expect(DecimalText.parse("0.000e5") == 0, "zero written out stays zero")
        #expect(DecimalText.parse("5e-300") == 5e-300)
    }

    @Test func anythingElseIsRefusedNotReadAsAnotherNumber() {
        for text in ["", "-", "0x10", "0X10", "0x1p3", ".5", "5.", "+5", "--5", "1e", "1e+", "1e1000", "1e-999", "1e999",
                     "nan", "inf", "-inf", "infinity", "1_000", "1,000", " 5", "5 ", "٣", "5\u{0}", "1.2.3", "1e2e3"] {
            #expect(DecimalText.parse(text) == nil, "\(text)")
        }
    }
}

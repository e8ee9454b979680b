/// A number as a person writes one into a form or on the command line: an optional minus,
/// digits, an optional fraction and an optional exponent of at most three digits (`12`, `12.5`,
/// `-3`, `1.5e3`). Swift's `Double(String)` also reads `0x10` (16), `0x1p3`, `nan`, `inf`,
/// `.5` and `+5`: a reading typed as one of those was stored as a number the person did not
/// write. A non-zero number too small for a `Double` (`1e-999`, which reads as 0) or too large
/// (`1e999`) is refused too, not stored as 0 or infinity.
public enum DecimalText {
    public static func parse(_ text: String) -> Double? {
        let u = Array(text.utf8)
        var i = 0
        func digits() -> (count: Int, nonZero: Bool) {
            var n = 0, nonZero = false
            while i < u.count, u[i] >= UInt8(ascii: "0"), u[i] <= UInt8(ascii: "9") {
                if u[i] != UInt8(ascii: "0") { nonZero = true }
                i += 1; n += 1
            }
            return (n, nonZero)
        }
        if i < u.count, u[i] == UInt8(ascii: "-") { i += 1 }
        let whole = digits()
        guard whole.count > 0 else { return nil }
        var nonZero = whole.nonZero
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            let fraction = digits()
            guard fraction.count > 0 else { return nil }
            nonZero = nonZero || fraction.nonZero
        }
        if i < u.count, u[i] == UInt8(ascii: "e") || u[i] == UInt8(ascii: "E") {
            i += 1
            if i < u.count, u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "+") { i += 1 }
            let exponent = digits()
            guard (1...3).contains(exponent.count) else { return nil }
        }
        guard i == u.count, let number = Double(text), number.isFinite, number != 0 || !nonZero else { return nil }
        return number
    }
}

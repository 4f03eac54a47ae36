/// Numbers as Lustre's tools read and print them, without Foundation.
public enum NumberText {
    /// Parses a size with an optional binary suffix: `4096`, `4K`, `1M`, `2G`.
    public static func size(_ text: String) throws(LustreError) -> Int {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = text.uppercased()
        var multiplier = 1
        if let last = digits.last, let unit = units[last] {
            multiplier = unit
            digits.removeLast()
        }
        guard let value = Int(digits), value >= 0, value <= Int.max / multiplier else {
            throw .invalid("bad size '\(text)': expected a number with an optional K, M, G or T suffix")
        }
        return value * multiplier
    }

    /// `value` with `digits` decimals (what `String(format: "%.2f")` gives).
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (value * scale).rounded()
        guard digits > 0 else { return String(Int64(scaled)) }
        let sign = scaled < 0 ? "-" : ""
        let magnitude = abs(scaled)
        var fraction = String(Int64(magnitude.truncatingRemainder(dividingBy: scale)))
        while fraction.count < digits { fraction = "0" + fraction }
        return "\(sign)\(Int64(magnitude / scale)).\(fraction)"
    }
}

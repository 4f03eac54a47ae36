// Small text helpers shared by the parameter parsers.  Internal: other
// modules have their own needs and Foundation is not imported here.

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines
    /// (`lctl set_param` values often arrive with a trailing newline).
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}

/// Parses an integer the way C's `%i` / `strtol(…, 0)` does: optional sign,
/// then decimal, `0x` hexadecimal or leading-`0` octal.
func parseCInteger(_ text: String) -> Int64? {
    var s = Substring(text.trimmingWhitespace())
    var negative = false
    if s.first == "-" || s.first == "+" {
        negative = s.first == "-"
        s = s.dropFirst()
    }
    guard !s.isEmpty else { return nil }
    var radix = 10
    if s.count > 2, s.hasPrefix("0x") || s.hasPrefix("0X") {
        radix = 16
        s = s.dropFirst(2)
    } else if s.count > 1, s.hasPrefix("0") {
        radix = 8
        s = s.dropFirst()
    }
    guard let magnitude = UInt64(s, radix: radix) else { return nil }
    if negative {
        guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
        return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
    }
    guard magnitude <= UInt64(Int64.max) else { return nil }
    return Int64(magnitude)
}

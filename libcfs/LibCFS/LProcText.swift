/// The column formatting of Lustre's proc files (`%-25s`, `%10lu`, `pct()`), shared by every
/// stats, histogram and job-stats printer so their columns line up as Lustre's do.
public enum LProcText {
    /// `%-<width>s`: `text` padded on the right.
    public static func left(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    /// `%<width>s`: `text` padded on the left.
    public static func right(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// `%<width>lu`.
    public static func right(_ value: UInt64, _ width: Int) -> String { right(String(value), width) }

    /// Lustre's `pct(a, b)`: whole percent of `part` in `total`, 0 for an empty total.
    public static func percent(_ part: UInt64, _ total: UInt64) -> UInt64 { total == 0 ? 0 : part * 100 / total }
}

/// Parameter names and `lctl` glob patterns, split into components the way
/// `lctl` sees them as paths: `osc.testfs-OST0000-osc-ffff8800.stats` has
/// three components, and a NID (`192.168.1.2@tcp`, `0@lo`) is one component
/// even though it contains dots, as in `obdfilter.*.exports.192.168.1.2@tcp.uuid`.
struct ParamPattern: Sendable, Hashable {
    let components: [String]

    /// Splits `text`; `/` is accepted as a separator too (`osc/*/stats`).
    init(_ text: String) {
        components = ParamPattern.split(text)
    }

    /// Whether every component of `name` matches the pattern's component in
    /// the same place, with the same number of components.
    func matches(_ name: ParamPattern) -> Bool {
        guard components.count == name.components.count else { return false }
        for (p, n) in zip(components, name.components) where !ParamPattern.fnmatch(p, n) {
            return false
        }
        return true
    }

    static func split(_ text: String) -> [String] {
        let raw = text.split(separator: "/", omittingEmptySubsequences: false)
            .flatMap { $0.split(separator: ".", omittingEmptySubsequences: false) }
            .map(String.init)
        var out: [String] = []
        for part in raw {
            // An IPv4 NID arrives as "192", "168", "1", "2@tcp": fold the
            // numeric (or wildcard) pieces before the "@" back into it.
            if part.contains("@") {
                var merged = part
                var taken = 0
                while taken < 3, let last = out.last, isAddressPiece(last) {
                    merged = last + "." + merged
                    out.removeLast()
                    taken += 1
                }
                out.append(merged)
            } else {
                out.append(part)
            }
        }
        return out
    }

    private static func isAddressPiece(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2A || $0 == 0x3F }
    }

    /// Whether a name component contains glob metacharacters.
    static func hasGlob(_ s: String) -> Bool {
        s.utf8.contains { $0 == 0x2A || $0 == 0x3F || $0 == 0x5B }
    }

    /// fnmatch(3) without flags: `*`, `?`, `[...]` (with `!`/`^` negation
    /// and ranges) and `\` escapes.
    static func fnmatch(_ pattern: String, _ string: String) -> Bool {
        let p = Array(pattern.utf8), s = Array(string.utf8)
        var pi = 0, si = 0
        var starP = -1, starS = 0
        while si < s.count {
            if pi < p.count {
                switch p[pi] {
                case 0x2A: // *
                    starP = pi
                    starS = si
                    pi += 1
                    continue
                case 0x3F: // ?
                    pi += 1
                    si += 1
                    continue
                case 0x5B: // [
                    if let (matched, next) = matchClass(p, pi, s[si]) {
                        if matched {
                            pi = next
                            si += 1
                            continue
                        }
                    } else if s[si] == 0x5B { // unterminated: literal '['
                        pi += 1
                        si += 1
                        continue
                    }
                case 0x5C where pi + 1 < p.count: // backslash escape
                    if p[pi + 1] == s[si] {
                        pi += 2
                        si += 1
                        continue
                    }
                default:
                    if p[pi] == s[si] {
                        pi += 1
                        si += 1
                        continue
                    }
                }
            }
            // Mismatch: let the last '*' swallow one more character.
            guard starP >= 0 else { return false }
            pi = starP + 1
            starS += 1
            si = starS
        }
        while pi < p.count, p[pi] == 0x2A { pi += 1 }
        return pi == p.count
    }

    /// Matches `c` against the bracket expression at `p[start]`; nil when the
    /// bracket is not closed.
    private static func matchClass(_ p: [UInt8], _ start: Int, _ c: UInt8) -> (Bool, Int)? {
        var i = start + 1
        var negate = false
        if i < p.count, p[i] == 0x21 || p[i] == 0x5E { // ! or ^
            negate = true
            i += 1
        }
        var matched = false
        var first = true
        while i < p.count {
            if p[i] == 0x5D && !first { // ]
                return (matched != negate, i + 1)
            }
            first = false
            var lo = p[i]
            if lo == 0x5C, i + 1 < p.count { i += 1; lo = p[i] }
            if i + 2 < p.count, p[i + 1] == 0x2D, p[i + 2] != 0x5D { // a-z
                let hi = p[i + 2]
                if lo <= c && c <= hi { matched = true }
                i += 3
            } else {
                if lo == c { matched = true }
                i += 1
            }
        }
        return nil
    }
}

import Atomics

/// A value that a `Tunable` can hold: it fits in one machine word, so hot
/// paths read it with a single atomic load, and it has a text form for
/// `lctl get_param` / `set_param`.
public protocol TunableValue: Sendable, Equatable {
    /// The value as a word (lossless).
    var tunableBits: Int { get }
    /// The value from `tunableBits`.
    init(tunableBits: Int)
    /// What `lctl get_param` prints.
    var tunableText: String { get }
    /// Parses what `lctl set_param` was given; `EINVAL` with a clear message.
    static func parseTunable(_ text: String) throws(LustreError) -> Self
}

extension Int: TunableValue {
    /// The integer itself.
    public var tunableBits: Int { self }
    /// The integer itself.
    public init(tunableBits: Int) { self = tunableBits }
    /// Decimal.
    public var tunableText: String { String(self) }
    /// Decimal, `0x` hexadecimal or leading-`0` octal, as C's `%i`.
    public static func parseTunable(_ text: String) throws(LustreError) -> Int {
        guard let v = parseCInteger(text), let i = Int(exactly: v) else {
            throw LustreError.invalid("'\(text.trimmingWhitespace())' is not a number")
        }
        return i
    }
}

extension Bool: TunableValue {
    /// 1 or 0.
    public var tunableBits: Int { self ? 1 : 0 }
    /// Non-zero is true.
    public init(tunableBits: Int) { self = tunableBits != 0 }
    /// `1` or `0`, as Lustre prints booleans (`osc.*.checksums`).
    public var tunableText: String { self ? "1" : "0" }
    /// `1`/`0`, `on`/`off`, `yes`/`no`, `true`/`false` (Lustre's kstrtobool).
    public static func parseTunable(_ text: String) throws(LustreError) -> Bool {
        switch text.trimmingWhitespace().lowercased() {
        case "1", "y", "yes", "on", "true": return true
        case "0", "n", "no", "off", "false": return false
        default: throw LustreError.invalid("'\(text.trimmingWhitespace())' is not a boolean (use 1 or 0)")
        }
    }
}

extension ChecksumType: TunableValue {
    /// The wire bit.
    public var tunableBits: Int { Int(rawValue) }
    /// The type for a wire bit; an unknown bit reads as the default.
    public init(tunableBits: Int) { self = ChecksumType(rawValue: UInt32(truncatingIfNeeded: tunableBits)) ?? .default }
    /// All choices with the active one bracketed: `crc32 adler [crc32c]`.
    public var tunableText: String { ChecksumType.formatChoices(active: self) }
    /// A type name.
    public static func parseTunable(_ text: String) throws(LustreError) -> ChecksumType { try parse(text) }
}

/// The unit a numeric tunable is kept in, which decides the suffixes
/// `set_param` accepts (`max_dirty_mb=1G` means 1024).
public enum TunableUnit: Sendable, Hashable {
    /// A plain count; no suffix accepted.
    case none
    /// Bytes; `K`, `M`, `G`, `T` suffixes (binary) accepted.
    case bytes
    /// KiB; `M`, `G`, `T` suffixes accepted.
    case kibibytes
    /// MiB (`max_dirty_mb`, `debug_mb`); `G`, `T` suffixes accepted.
    case mebibytes

    var shift: Int {
        switch self {
        case .none, .bytes: 0
        case .kibibytes: 10
        case .mebibytes: 20
        }
    }
}

/// One tunable setting (`max_rpcs_in_flight`, `max_dirty_mb`,
/// `checksum_type`…): read lock-free on hot paths with `value`, changed by
/// `lctl set_param` through the parameter tree with validation.
///
/// ```swift
/// let maxRPCs = Tunable(8, range: 1...256)
/// try ParamTree.shared.register("osc.\(name).max_rpcs_in_flight", tunable: maxRPCs)
/// if inFlight < maxRPCs.value { send() }
/// ```
public final class Tunable<Value: TunableValue>: Sendable {
    private let storage: ManagedAtomic<Int>
    private let validator: @Sendable (Value) throws(LustreError) -> Void
    private let parser: @Sendable (String) throws(LustreError) -> Value
    private let onChange: (@Sendable (Value) -> Void)?

    /// The value it starts with.
    public let defaultValue: Value

    /// A tunable starting at `initial`.  `validate` rejects values with a
    /// `LustreError` (the old value is kept); `onChange` runs after each
    /// accepted change (to wake waiters, resize a pool…).
    public init(_ initial: Value,
                validate: @escaping @Sendable (Value) throws(LustreError) -> Void = { _ in },
                onChange: (@Sendable (Value) -> Void)? = nil) {
        self.storage = ManagedAtomic(initial.tunableBits)
        self.validator = validate
        self.parser = { text throws(LustreError) in try Value.parseTunable(text) }
        self.onChange = onChange
        self.defaultValue = initial
    }

    fileprivate init(_ initial: Value,
                     parser: @escaping @Sendable (String) throws(LustreError) -> Value,
                     validate: @escaping @Sendable (Value) throws(LustreError) -> Void,
                     onChange: (@Sendable (Value) -> Void)?) {
        self.storage = ManagedAtomic(initial.tunableBits)
        self.validator = validate
        self.parser = parser
        self.onChange = onChange
        self.defaultValue = initial
    }

    /// The current value: one relaxed atomic load.
    @inlinable public var value: Value { Value(tunableBits: load()) }

    @usableFromInline func load() -> Int { storage.load(ordering: .relaxed) }

    /// Sets the value after validation; on error the old value stays.
    public func set(_ newValue: Value) throws(LustreError) {
        try validator(newValue)
        storage.store(newValue.tunableBits, ordering: .relaxed)
        onChange?(newValue)
    }

    /// What `lctl get_param` prints for this tunable.
    public var text: String { value.tunableText }

    /// Parses and sets, as `lctl set_param name=text` does.
    public func set(text: String) throws(LustreError) {
        try set(try parser(text))
    }

    /// Parses and validates without setting: `lctl set_param -P` refuses a bad value before the
    /// MGS stores it.
    public func check(text: String) throws(LustreError) {
        try validator(try parser(text))
    }
}

extension Tunable where Value == Int {
    /// An integer tunable limited to `range`, kept in `unit`.
    ///
    /// `set_param` accepts binary suffixes larger than the unit
    /// (`max_dirty_mb=2G` stores 2048); a value outside `range` or not a whole
    /// number of units is `EINVAL` naming the range.
    public convenience init(_ initial: Int, range: ClosedRange<Int>, unit: TunableUnit = .none,
                            onChange: (@Sendable (Int) -> Void)? = nil) {
        precondition(range.contains(initial), "default \(initial) outside \(range)")
        self.init(initial,
                  parser: { text throws(LustreError) in try parseWithUnit(text, unit: unit) },
                  validate: { value throws(LustreError) in
                      guard range.contains(value) else {
                          throw LustreError.invalid(
                              "\(value) is out of range \(range.lowerBound)..\(range.upperBound)")
                      }
                  },
                  onChange: onChange)
    }
}

private func parseWithUnit(_ text: String, unit: TunableUnit) throws(LustreError) -> Int {
    let trimmed = text.trimmingWhitespace()
    guard unit != .none, let last = trimmed.last, last.isLetter else {
        return try Int.parseTunable(trimmed)
    }
    let suffixShift: Int
    switch last.uppercased() {
    case "B": suffixShift = 0
    case "K": suffixShift = 10
    case "M": suffixShift = 20
    case "G": suffixShift = 30
    case "T": suffixShift = 40
    default: throw LustreError.invalid("'\(trimmed)': unknown unit suffix '\(last)'")
    }
    let number = try Int.parseTunable(String(trimmed.dropLast()))
    let shift = suffixShift - unit.shift
    if shift >= 0 {
        let (scaled, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { throw LustreError.invalid("'\(trimmed)' is too large") }
        return scaled
    }
    let divisor = 1 << -shift
    guard number % divisor == 0 else {
        throw LustreError.invalid("'\(trimmed)' is not a whole number of \(unit)")
    }
    return number / divisor
}

/// Exponential back-off between retries, as an import uses between reconnect
/// attempts: start at `minimum`, multiply after each attempt, never exceed
/// `maximum`, and optionally spread retries with jitter so that many clients
/// that lost one server do not all come back in the same instant.
public struct Backoff: Sendable, Hashable {
    /// The first delay, and the delay after `reset()`.
    public var minimum: Duration
    /// The cap on the delay (before jitter).
    public var maximum: Duration
    /// The factor applied after each attempt (≥ 1).
    public var multiplier: Double
    /// The fraction of the delay added or removed at random, 0…1
    /// (0.1 = ±10 %).  The result never exceeds `maximum` nor goes below zero.
    public var jitter: Double

    /// The delay `next()` will return, before jitter.
    public private(set) var current: Duration

    /// A back-off from `minimum` to `maximum`.
    public init(minimum: Duration, maximum: Duration, multiplier: Double = 2, jitter: Double = 0) {
        precondition(minimum >= .zero && maximum >= minimum, "Backoff needs 0 <= minimum <= maximum")
        precondition(multiplier >= 1, "Backoff multiplier must be at least 1")
        precondition((0...1).contains(jitter), "Backoff jitter must be within 0...1")
        self.minimum = minimum
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
        self.current = minimum
    }

    /// The delay before the next attempt; grows the following one.
    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// `next()` with a caller-supplied random source (for reproducible tests).
    public mutating func next(using generator: inout some RandomNumberGenerator) -> Duration {
        let delay = current
        let grown = Backoff.seconds(current) * multiplier
        current = grown >= Backoff.seconds(maximum) ? maximum : .nanoseconds(Int64(grown * 1e9))
        if current < minimum { current = minimum }
        guard jitter > 0 else { return delay }
        let base = Backoff.seconds(delay)
        let spread = base * jitter * Double.random(in: -1...1, using: &generator)
        let jittered = min(max(base + spread, 0), Backoff.seconds(maximum))
        return .nanoseconds(Int64(jittered * 1e9))
    }

    /// Starts again from `minimum` (after a successful connect).
    public mutating func reset() {
        current = minimum
    }

    private static func seconds(_ d: Duration) -> Double {
        let (s, attos) = d.components
        return Double(s) + Double(attos) / 1e18
    }
}

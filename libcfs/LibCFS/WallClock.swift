#if canImport(Glibc)
import Glibc
#endif

/// `CLOCK_REALTIME`, for what people read: `snapshot_time` in stats files and
/// the timestamps of `lctl dk` lines.  Use `MonotonicClock` for intervals.
public enum WallClock {
    /// A wall-clock instant as seconds and nanoseconds since the epoch.
    public struct Time: Sendable, Hashable, Comparable, CustomStringConvertible {
        /// Whole seconds since 1970-01-01 00:00:00 UTC.
        public var seconds: Int64
        /// Nanoseconds within the second, 0..<1_000_000_000.
        public var nanoseconds: Int64

        /// An instant from its parts; `nanoseconds` is normalised into range.
        public init(seconds: Int64, nanoseconds: Int64) {
            let carry = nanoseconds >= 0 ? nanoseconds / 1_000_000_000
                                         : (nanoseconds - 999_999_999) / 1_000_000_000
            self.seconds = seconds + carry
            self.nanoseconds = nanoseconds - carry * 1_000_000_000
        }

        /// Total nanoseconds since the epoch.
        public var totalNanoseconds: Int64 { seconds * 1_000_000_000 + nanoseconds }

        /// `seconds.nanoseconds` with nine fraction digits, as Lustre's stats
        /// headers print (`1700000000.123456789`).
        public var description: String {
            let frac = String(nanoseconds)
            return "\(seconds)." + String(repeating: "0", count: 9 - frac.count) + frac
        }

        /// The interval from `earlier` to `self`.
        public func since(_ earlier: Time) -> Time {
            Time(seconds: seconds - earlier.seconds, nanoseconds: nanoseconds - earlier.nanoseconds)
        }

        /// Orders by instant.
        public static func < (a: Time, b: Time) -> Bool {
            (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
        }
    }

    /// The current wall-clock time.
    public static func now() -> Time {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Time(seconds: Int64(ts.tv_sec), nanoseconds: Int64(ts.tv_nsec))
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// `CLOCK_MONOTONIC`: time that only moves forward, for timeouts, RPC
/// latencies and back-off, immune to the wall clock being set.
public enum MonotonicClock {
    /// Nanoseconds since an arbitrary fixed point (boot, on Linux).
    @inlinable
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// The time elapsed since an earlier `nanoseconds()` reading.
    @inlinable
    public static func elapsed(since start: UInt64) -> Duration {
        let now = nanoseconds()
        return .nanoseconds(Int64(bitPattern: now &- start))
    }
}

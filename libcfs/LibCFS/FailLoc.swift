#if canImport(Glibc)
import Glibc
#endif
import Atomics
import CLibCFS

/// Fault injection as Lustre's `OBD_FAIL_CHECK` / `CFS_FAIL_CHECK`: code
/// marks the places where a failure can be forced with an id, and a tester
/// arms one of them with `lctl set_param fail_loc=0x80000505 [fail_val=N]`.
///
/// The low 16 bits of `fail_loc` (`CFS_FAIL_MASK_LOC`) select the place; the
/// high bits say how often it fires:
///
/// | flag | bit | meaning |
/// | --- | --- | --- |
/// | `once` | 0x80000000 | fire one time, then stay quiet |
/// | `failed` | 0x40000000 | set by libcfs once it has fired |
/// | `skip` | 0x20000000 | let the first `fail_val` hits pass, then fire |
/// | `some` | 0x10000000 | fire `fail_val` times, then stop |
/// | `rand` | 0x08000000 | fire one time in `fail_val` |
/// | `usr1` | 0x04000000 | free for the caller's own meaning |
///
/// With `fail_loc` 0 a check is one atomic load and a branch.
public enum FailLoc {
    /// `CFS_FAIL_MASK_LOC`: the bits that name the place.
    public static let maskLoc: UInt32 = 0x0000_FFFF
    /// `CFS_FAIL_ONCE`.
    public static let once: UInt32 = 0x8000_0000
    /// `CFS_FAILED`.
    public static let failed: UInt32 = 0x4000_0000
    /// `CFS_FAIL_SKIP`.
    public static let skip: UInt32 = 0x2000_0000
    /// `CFS_FAIL_SOME`.
    public static let some: UInt32 = 0x1000_0000
    /// `CFS_FAIL_RAND`.
    public static let rand: UInt32 = 0x0800_0000
    /// `CFS_FAIL_USR1`.
    public static let usr1: UInt32 = 0x0400_0000

    /// `fail_loc`; setting it re-arms (clears the hit counter).
    public static var value: UInt32 {
        get { cfs_fail_loc_get() }
        set {
            hitCount.store(0, ordering: .relaxed)
            cfs_fail_loc_set(newValue)
        }
    }

    /// `fail_val`: the N of skip/some/rand, or the value `checkValue` wants.
    public static var failValue: UInt32 {
        get { cfs_fail_val_get() }
        set { cfs_fail_val_set(newValue) }
    }

    /// Whether the failure point `id` should fail now (`CFS_FAIL_CHECK`).
    /// Logs `*** cfs_fail_loc=… ***` to the console when it fires.
    @inlinable
    public static func check(_ id: UInt32, file: StaticString = #fileID,
                             function: StaticString = #function, line: UInt = #line) -> Bool {
        let loc = cfs_fail_loc_get()
        // Literal mask (= maskLoc) so the inlined check reads no lazy global.
        guard loc != 0, loc & 0xFFFF == id & 0xFFFF else { return false }
        return checkSlow(id, value: 0, matchValue: false, file: file, function: function, line: line)
    }

    /// Like `check`, but fires only when `fail_val` is `value` or -1
    /// (`CFS_FAIL_CHECK_VALUE`), e.g. to fail only on one OST index.
    @inlinable
    public static func checkValue(_ id: UInt32, _ value: UInt32, file: StaticString = #fileID,
                                  function: StaticString = #function, line: UInt = #line) -> Bool {
        let loc = cfs_fail_loc_get()
        // Literal mask (= maskLoc) so the inlined check reads no lazy global.
        guard loc != 0, loc & 0xFFFF == id & 0xFFFF else { return false }
        return checkSlow(id, value: value, matchValue: true, file: file, function: function, line: line)
    }

    /// When `id` fires, sleeps `seconds` (`CFS_FAIL_TIMEOUT`), waking early
    /// if `fail_loc` is cleared meanwhile; returns whether it fired.
    @discardableResult
    public static func failTimeout(_ id: UInt32, seconds: Double, file: StaticString = #fileID,
                                   function: StaticString = #function, line: UInt = #line) async -> Bool {
        guard check(id, file: file, function: function, line: line) else { return false }
        CERROR("cfs_fail_timeout id \(hex(id)) sleeping for \(Int(seconds * 1000))ms",
               file: file, function: function, line: line)
        let deadline = MonotonicClock.nanoseconds() + UInt64(max(0, seconds) * 1e9)
        while MonotonicClock.nanoseconds() < deadline {
            // Poll like Lustre (every 100 ms) so clearing fail_loc ends the wait.
            let left = deadline - MonotonicClock.nanoseconds()
            try? await Task.sleep(nanoseconds: min(left, 100_000_000))
            if cfs_fail_loc_get() == 0 {
                CERROR("cfs_fail_timeout interrupted", file: file, function: function, line: line)
                return true
            }
        }
        CERROR("cfs_fail_timeout id \(hex(id)) awake", file: file, function: function, line: line)
        return true
    }

    /// `__cfs_fail_check_set` for the NOSET and VALUE cases.
    @usableFromInline
    static func checkSlow(_ id: UInt32, value: UInt32, matchValue: Bool,
                          file: StaticString, function: StaticString, line: UInt) -> Bool {
        var loc = cfs_fail_loc_get()
        if loc & (failed | once) == (failed | once) {
            hitCount.store(0, ordering: .relaxed)
            return false
        }
        let val = cfs_fail_val_get()
        if loc & rand != 0 {
            if val < 2 || UInt32.random(in: 0..<val) > 0 { return false }
        }
        if loc & skip != 0 {
            if hitCount.wrappingIncrementThenLoad(ordering: .relaxed) <= Int(val) { return false }
        }
        if matchValue, val != UInt32.max, val != value { return false }
        var lastOfSome = false
        if loc & some != 0, loc & once == 0 || val <= 1 {
            let count = hitCount.wrappingIncrementThenLoad(ordering: .relaxed)
            if count >= Int(val) {
                loc = cfs_fail_loc_or(once) | once
                hitCount.store(0, ordering: .relaxed)
                if count > Int(val) { return false }   // lost the race to be the last
                lastOfSome = true
            }
        }
        let before = cfs_fail_loc_or(failed)
        // Only one caller fires a FAIL_ONCE.  The N-th hit of FAIL_SOME has
        // just set ONCE itself and still fires, so SOME fails exactly N times
        // as documented (lustre-release's code path lets it fire N-1 times).
        if before & failed != 0, (before | loc) & once != 0, !lastOfSome {
            return false
        }
        LustreDebug.log(.console, "*** cfs_fail_loc=\(hex(id)), val=\(value)***",
                        file: file, function: function, line: line)
        return true
    }

    /// Registers `fail_loc` and `fail_val` in `tree`.
    static func registerParams(in tree: ParamTree) {
        try? tree.register("fail_loc", get: { String(value) }, set: { text in
            guard let v = parseCInteger(text), v >= Int64(Int32.min), v <= Int64(UInt32.max) else {
                throw LustreError.invalid("fail_loc='\(text.trimmingWhitespace())': not a 32-bit number")
            }
            value = UInt32(truncatingIfNeeded: v)
        })
        try? tree.register("fail_val", get: { String(Int32(bitPattern: failValue)) }, set: { text in
            guard let v = parseCInteger(text), v >= Int64(Int32.min), v <= Int64(UInt32.max) else {
                throw LustreError.invalid("fail_val='\(text.trimmingWhitespace())': not a 32-bit number")
            }
            failValue = UInt32(truncatingIfNeeded: v)
        })
    }

    static let hitCount = ManagedAtomic<Int>(0)

    static func hex(_ v: UInt32) -> String { String(v, radix: 16) }
}

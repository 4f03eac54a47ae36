import LibCFS

/// Fault-injection points of the OSP, with Lustre's `OBD_FAIL_OSP_*` values.
public enum OSPFail {
    /// `OBD_FAIL_OSP_CON_EVENT_DELAY`: the OSP of the OST whose index is `fail_val` waits 2 s
    /// before each connect, as an OST that is slow to answer at start would keep it connecting.
    public static let connectDelay: UInt32 = 0x2107
}

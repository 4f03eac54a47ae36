/// Fault-injection points of the OFD, with Lustre's `OBD_FAIL_OST_*` values (`lctl set_param
/// fail_loc=0x8000020e` arms one once).
public enum OFDFail {
    /// A write's bulk is dropped before it is pulled: the client is told to resend (`-EAGAIN`).
    public static let brwWriteBulk: UInt32 = 0x20e
    /// A read's bulk is dropped before it is pushed: the client is told to resend (`-EAGAIN`).
    public static let brwReadBulk: UInt32 = 0x20f
    /// `OBD_FAIL_OST_ENOSPC`: writes and precreates fail with `-ENOSPC` on the OST whose index
    /// is `fail_val` (every OST with `fail_val=-1`), as Lustre's.
    public static let enospc: UInt32 = 0x215
    /// `OBD_FAIL_OST_EIO`: reads and writes fail with `-EIO`.
    public static let eio: UInt32 = 0x216
}

/// The mode bits of `fallocate(2)` (Linux's `FALLOC_FL_*` values), as a client passes them and an
/// `OST_FALLOCATE` carries them in o_flags (Lustre's `o_falloc_mode`).
public struct FallocateMode: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `FALLOC_FL_KEEP_SIZE`: allocate without growing the file.
    public static let keepSize = FallocateMode(rawValue: 0x01)
    /// `FALLOC_FL_PUNCH_HOLE`: free the range (only with `keepSize`).
    public static let punchHole = FallocateMode(rawValue: 0x02)
}

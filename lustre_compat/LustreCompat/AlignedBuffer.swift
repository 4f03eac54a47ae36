import Glibc
import LibCFS

/// Heap memory aligned for `O_DIRECT` I/O, freed when the last reference goes.
///
/// `O_DIRECT` wants the buffer address, offset and length aligned to the logical block size
/// (4096 covers every device in practice).  The memory never moves, so it is safe to hand to
/// the kernel for asynchronous I/O.  Contents start unspecified (not zeroed: that would cost a
/// pass over memory that is usually about to be overwritten by a read).
public final class AlignedBuffer: @unchecked Sendable {
    /// The memory.  Valid for as long as this object is alive.
    public let bytes: UnsafeMutableRawBufferPointer

    /// Allocates `byteCount` bytes aligned to `alignment` (a power of two, multiple of the
    /// pointer size).
    public init(byteCount: Int, alignment: Int = 4096) throws(LustreError) {
        guard byteCount >= 0, alignment >= MemoryLayout<UnsafeRawPointer>.size,
              alignment & (alignment - 1) == 0 else {
            throw LustreError.invalid("aligned buffer of \(byteCount) bytes at alignment \(alignment)")
        }
        var memory: UnsafeMutableRawPointer?
        let rc = posix_memalign(&memory, alignment, Swift.max(byteCount, 1))
        guard rc == 0, let memory else {
            throw LustreError(errno: rc, "posix_memalign \(byteCount) bytes")
        }
        bytes = UnsafeMutableRawBufferPointer(start: memory, count: byteCount)
    }

    deinit { free(bytes.baseAddress) }

    /// The size in bytes.
    public var count: Int { bytes.count }
}

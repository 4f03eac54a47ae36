import CLibCFS

/// Process-wide allocator policy for daemons that move large buffers.
public enum MemoryTuning {
    /// Serves allocations up to `largest` bytes from recycled heap instead of
    /// fresh `mmap`s, which the kernel must fault in and zero on every use,
    /// and keeps up to `trim` bytes of freed heap for reuse.
    public static func keepLargeAllocationsOnHeap(upTo largest: Int, trim: Int = 256 << 20) {
        cfs_malloc_keep_on_heap(largest, trim)
    }
}

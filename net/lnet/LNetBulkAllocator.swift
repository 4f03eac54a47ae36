#if canImport(Glibc)
@preconcurrency import Glibc
#endif
@_spi(CustomByteBufferAllocator) import NIOCore
import Synchronization

/// Page-aligned memory for bulk payloads received off the wire
/// (`LNetConfiguration.pageAlignedBulk`).
///
/// An OST writing a bulk write's data with `O_DIRECT` straight from the buffer the socket
/// filled needs that memory aligned to the device's blocks, and `malloc` gives 16 bytes. A
/// payload of whole pages read into page-aligned memory goes to the disk with no copy, as
/// Lustre's OSD submits the bulk's own pages.
///
/// Freed blocks of the sizes bulk comes in are kept for the next payloads, up to `keptLimit`
/// bytes: memory the process has not touched yet costs a page fault and a zeroed page per
/// 4 KiB, 15 % of an OSS's CPU samples on a stream of 4 MiB writes when every payload had
/// fresh memory.
enum LNetBulkAllocator {
    /// The alignment: a page, which covers any block device's logical block size.
    static let alignment = 4096
    /// Bytes of freed blocks kept for reuse.
    static let keptLimit = 64 << 20

    private struct Kept {
        /// Addresses of free blocks by size.
        var blocks: [Int: [UInt]] = [:]
        var bytes = 0
    }

    private static let kept = Mutex(Kept())

    static let allocator = ByteBufferAllocator(
        allocate: { size in LNetBulkAllocator.allocate(size) },
        reallocate: { memory, oldSize, newSize in
            // Bulk buffers are not grown; if one is, it stays aligned.
            guard let moved = LNetBulkAllocator.allocate(newSize) else { return nil }
            if let memory {
                moved.copyMemory(from: memory, byteCount: min(oldSize, newSize))
                LNetBulkAllocator.deallocate(memory)
            }
            return moved
        },
        deallocate: { memory in LNetBulkAllocator.deallocate(memory) },
        copy: { destination, source, count in destination.copyMemory(from: source, byteCount: count) }
    )

    /// A block of `size` bytes at a page boundary; its size is kept in the page before it.
    private static func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
        let size = max(size, 1)
        let reused = kept.withLock { kept -> UInt? in
            guard let block = kept.blocks[size]?.popLast() else { return nil }
            kept.bytes -= size
            return block
        }
        if let reused { return UnsafeMutableRawPointer(bitPattern: reused) }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, alignment, size + alignment) == 0, let memory else { return nil }
        memory.storeBytes(of: size, as: Int.self)
        return memory + alignment
    }

    private static func deallocate(_ block: UnsafeMutableRawPointer) {
        let size = (block - alignment).load(as: Int.self)
        let address = UInt(bitPattern: block)
        let keptIt = kept.withLock { kept -> Bool in
            guard kept.bytes + size <= keptLimit else { return false }
            kept.blocks[size, default: []].append(address)
            kept.bytes += size
            return true
        }
        if !keptIt { free(block - alignment) }
    }
}

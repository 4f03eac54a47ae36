import LibCFS
import NIOCore

/// A target's space and inode counts as `OST_STATFS` answers them (`struct obd_statfs`, 144
/// bytes): the source of `lfs df`.
public struct ObdStatfs: Equatable, Sendable {
    /// `os_type`: the backing filesystem's magic (`EXT4_SUPER_MAGIC` for ldiskfs-like targets).
    public var type: UInt64 = 0
    /// Blocks of `blockSize` bytes.
    public var blocks: UInt64 = 0
    public var blocksFree: UInt64 = 0
    /// Free blocks usable by unprivileged writers.
    public var blocksAvailable: UInt64 = 0
    public var files: UInt64 = 0
    public var filesFree: UInt64 = 0
    /// `os_fsid`: the target's UUID, at most 39 bytes.
    public var fsid: String = ""
    public var blockSize: UInt32 = 0
    public var nameLength: UInt32 = 0
    /// Largest object the target accepts.
    public var maxBytes: UInt64 = 0
    /// `OS_STATFS_*` state bits (read-only, degraded…).
    public var state: UInt32 = 0
    /// Objects precreated and not yet handed out.
    public var precreated: UInt32 = 0
    /// `os_granted`: space granted to the MDS, in KiB (the MDS writes no data here: 0).
    public var granted: UInt32 = 0

    public static let wireSize = 144
    static let fsidSize = 40
    /// `EXT4_SUPER_MAGIC`.
    public static let ext4Magic: UInt64 = 0xef53

    public init() {}

    /// Bytes free for unprivileged writers (`os_bavail × os_bsize`).
    public var availableBytes: UInt64 {
        let (bytes, overflow) = blocksAvailable.multipliedReportingOverflow(by: UInt64(blockSize))
        return overflow ? .max : bytes
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(type, endianness: .little)
        buffer.writeInteger(blocks, endianness: .little)
        buffer.writeInteger(blocksFree, endianness: .little)
        buffer.writeInteger(blocksAvailable, endianness: .little)
        buffer.writeInteger(files, endianness: .little)
        buffer.writeInteger(filesFree, endianness: .little)
        let written = buffer.writeBytes(fsid.utf8.prefix(Self.fsidSize - 1))
        buffer.writeRepeatingByte(0, count: Self.fsidSize - written)
        buffer.writeInteger(blockSize, endianness: .little)
        buffer.writeInteger(nameLength, endianness: .little)
        buffer.writeInteger(maxBytes, endianness: .little)
        buffer.writeInteger(state, endianness: .little)
        buffer.writeInteger(precreated, endianness: .little)
        buffer.writeInteger(granted, endianness: .little)
        // os_spare3 … os_spare9.
        buffer.writeRepeatingByte(0, count: 7 * 4)
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: Self.wireSize)
        encode(into: &buffer)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard buffer.readableBytes >= Self.wireSize else { throw .protocolError("truncated obd_statfs") }
        // The length was checked, so none of these reads can fail.
        type = buffer.readInteger(endianness: .little)!
        blocks = buffer.readInteger(endianness: .little)!
        blocksFree = buffer.readInteger(endianness: .little)!
        blocksAvailable = buffer.readInteger(endianness: .little)!
        files = buffer.readInteger(endianness: .little)!
        filesFree = buffer.readInteger(endianness: .little)!
        let fsidBytes = buffer.readBytes(length: Self.fsidSize)!
        fsid = String(decoding: fsidBytes.prefix { $0 != 0 }, as: UTF8.self)
        blockSize = buffer.readInteger(endianness: .little)!
        nameLength = buffer.readInteger(endianness: .little)!
        maxBytes = buffer.readInteger(endianness: .little)!
        state = buffer.readInteger(endianness: .little)!
        precreated = buffer.readInteger(endianness: .little)!
        granted = buffer.readInteger(endianness: .little)!
        buffer.moveReaderIndex(forwardBy: 7 * 4)
    }
}

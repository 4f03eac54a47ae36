import LibCFS
import NIOCore

/// A batch of directory entries (Lustre's `lu_dirpage`): `end` says the directory has no more.
public struct MDTDirPage: Sendable, Equatable {
    public var entries: [MDTDirEntry]
    public var end: Bool

    /// More entries than this in one page is a protocol error.
    public static let maxEntries = 1 << 16

    public init(entries: [MDTDirEntry], end: Bool) {
        self.entries = entries
        self.end = end
    }

    /// Entry count (4), end flag (4), then the entries.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(entries.count), endianness: .little)
        buffer.writeInteger(UInt32(end ? 1 : 0), endianness: .little)
        for entry in entries { entry.encode(into: &buffer) }
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard let count = buffer.readInteger(endianness: .little, as: UInt32.self),
              let end = buffer.readInteger(endianness: .little, as: UInt32.self)
        else { throw .protocolError("truncated directory page") }
        guard count <= Self.maxEntries else {
            throw .protocolError("directory page of \(count) entries (at most \(Self.maxEntries))")
        }
        // Each entry takes at least 28 bytes: a lying count fails before any allocation.
        guard buffer.readableBytes >= Int(count) * 28 else {
            throw .protocolError("directory page of \(count) entries is truncated")
        }
        guard end <= 1 else { throw .protocolError("directory page end flag \(end)") }
        var entries: [MDTDirEntry] = []
        entries.reserveCapacity(Int(count))
        for _ in 0..<count { entries.append(try MDTDirEntry(decoding: &buffer)) }
        self.init(entries: entries, end: end == 1)
    }
}

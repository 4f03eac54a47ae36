import LibCFS

/// A file's size and blocks as last reported by a client at close (Lustre's "size on MDS",
/// `trusted.som`): valid flags (2), reserved (6), size (8), 512-byte blocks (8).
struct MDTSizeOnMDS: Equatable {
    var size: UInt64
    var blocks: UInt64

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(UInt16(1))
        bytes.append(contentsOf: [0, 0, 0, 0, 0, 0])
        bytes.appendLittleEndian(size)
        bytes.appendLittleEndian(blocks)
        return bytes
    }

    init(size: UInt64, blocks: UInt64) {
        self.size = size
        self.blocks = blocks
    }

    init(decoding bytes: [UInt8]) throws(LustreError) {
        var reader = MDTByteReader(bytes)
        _ = try reader.read(UInt16.self)
        try reader.skip(6)
        size = try reader.read(UInt64.self)
        blocks = try reader.read(UInt64.self)
    }
}

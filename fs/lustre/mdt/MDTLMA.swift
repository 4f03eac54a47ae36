import LibCFS
import ObdClass

/// The FID an inode carries (Lustre's `lustre_mdt_attrs` in `trusted.lma`): compat and incompat
/// flags (both 0 here) then the FID, little-endian, 24 bytes.
struct MDTLMA: Equatable {
    var fid: LustreFID

    static let size = 24

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.size)
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(UInt32(0))
        bytes.appendLittleEndian(fid.sequence)
        bytes.appendLittleEndian(fid.objectID)
        bytes.appendLittleEndian(fid.version)
        return bytes
    }

    init(fid: LustreFID) { self.fid = fid }

    init(decoding bytes: [UInt8]) throws(LustreError) {
        guard bytes.count >= Self.size else { throw .protocolError("LMA xattr of \(bytes.count) bytes") }
        var reader = MDTByteReader(bytes)
        _ = try reader.read(UInt32.self)
        _ = try reader.read(UInt32.self)
        fid = LustreFID(sequence: try reader.read(UInt64.self), objectID: try reader.read(UInt32.self),
                        version: try reader.read(UInt32.self))
    }
}

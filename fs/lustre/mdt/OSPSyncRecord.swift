import LibCFS
import ObdClass

/// One record of the OSP sync log (Lustre's `llog_unlink64_rec`): "destroy this object on this
/// OST", 64 bytes little-endian in a slot of a log segment. The state word leads so that a
/// cancellation is a 4-byte write in place; the checksum covers everything after it.
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 4 | state: 1 live, 2 cancelled |
/// | 4 | 4 | magic `0x4f535052` |
/// | 8 | 4 | OST index |
/// | 12 | 4 | reserved, 0 |
/// | 16 | 8 | object sequence |
/// | 24 | 8 | object id |
/// | 32 | 16 | the file's FID (sequence, oid, version) |
/// | 48 | 8 | wall-clock seconds when logged (diagnostics) |
/// | 56 | 4 | reserved, 0 |
/// | 60 | 4 | CRC32C of bytes 4..<60 |
struct OSPSyncRecord: Hashable, Sendable {
    static let size = 64
    static let magic: UInt32 = 0x4f53_5052
    static let stateLive: UInt32 = 1
    static let stateCancelled: UInt32 = 2

    var ostIndex: UInt32
    var object: OSTObjectID
    var parent: LustreFID
    var time: UInt64 = 0

    /// The record's bytes with state `live`.
    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.size)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: Self.stateLive.littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: Self.magic.littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: ostIndex.littleEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: object.sequence.littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: object.objectID.littleEndian, toByteOffset: 24, as: UInt64.self)
            raw.storeBytes(of: parent.sequence.littleEndian, toByteOffset: 32, as: UInt64.self)
            raw.storeBytes(of: parent.objectID.littleEndian, toByteOffset: 40, as: UInt32.self)
            raw.storeBytes(of: parent.version.littleEndian, toByteOffset: 44, as: UInt32.self)
            raw.storeBytes(of: time.littleEndian, toByteOffset: 48, as: UInt64.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[4..<60]))
            raw.storeBytes(of: crc.littleEndian, toByteOffset: 60, as: UInt32.self)
        }
        return bytes
    }

    /// Decodes a slot: nil for anything that is not a whole, intact record (a torn write, a
    /// reserved slot never written, the zeros of a hole); otherwise the record and whether it
    /// is still live.
    static func decode(_ slot: UnsafeRawBufferPointer) -> (record: OSPSyncRecord, live: Bool)? {
        guard slot.count >= size else { return nil }
        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: slot.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: slot.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        guard u32(4) == magic, CRC32C.checksum(UnsafeRawBufferPointer(rebasing: slot[4..<60])) == u32(60) else { return nil }
        let state = u32(0)
        guard state == stateLive || state == stateCancelled else { return nil }
        let record = OSPSyncRecord(ostIndex: u32(8), object: OSTObjectID(sequence: u64(16), objectID: u64(24)),
                                   parent: LustreFID(sequence: u64(32), objectID: u32(40), version: u32(44)),
                                   time: u64(48))
        return (record, state == stateLive)
    }
}

/// Where a record sits: its segment and slot (slot 0 is the segment header).
struct OSPSyncRecordID: Hashable, Sendable, Comparable {
    var segment: UInt64
    var slot: UInt32

    static func < (lhs: OSPSyncRecordID, rhs: OSPSyncRecordID) -> Bool {
        (lhs.segment, lhs.slot) < (rhs.segment, rhs.slot)
    }
}

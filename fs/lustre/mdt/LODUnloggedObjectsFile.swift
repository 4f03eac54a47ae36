import Glibc
import LibCFS

/// `lov_objid_unlogged` on the MDT root: object id ranges handed out to creates whose MDT log
/// record was not yet written when `lov_objid` was last written (and, until the MDT finishes
/// its log replay, the ids handed out since the previous start). At the next start, every id of
/// these ranges that the MDT's log replay does not note in use is an orphan: LOD destroys it.
///
/// Format: records of 24 bytes, little-endian: OST index (UInt32), zero (UInt32), first id
/// (UInt64), last id (UInt64). Written like `lov_objid` (temporary file, fdatasync, rename,
/// directory fsync).
enum LODUnloggedObjectsFile {
    static let name = "lov_objid_unlogged"
    static let recordSize = 24

    /// Reads the ranges; a missing file is none.
    static func read(root: String) throws(LustreError) -> [UInt32: [ClosedRange<UInt64>]] {
        let path = "\(root)/\(name)"
        guard let bytes = try DurableFile.readIfPresent(path, limit: 64 << 20) else { return [:] }
        guard bytes.count % recordSize == 0 else {
            throw LustreError(errno: EUCLEAN, "\(path): \(bytes.count) bytes is not a list of object id ranges")
        }
        var ranges: [UInt32: [ClosedRange<UInt64>]] = [:]
        bytes.withUnsafeBytes { raw in
            for offset in stride(from: 0, to: bytes.count, by: recordSize) {
                let index = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                let first = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                let last = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
                if first <= last, index <= LODObjectIDFile.maxOSTIndex { ranges[index, default: []].append(first...last) }
            }
        }
        return ranges
    }

    /// Replaces the list durably (removes the file when empty). Blocking: call it on an OS thread.
    static func write(root: String, _ ranges: [(index: UInt32, range: ClosedRange<UInt64>)]) -> LustreError? {
        let path = "\(root)/\(name)"
        var bytes = [UInt8](repeating: 0, count: ranges.count * recordSize)
        bytes.withUnsafeMutableBytes { raw in
            for (n, entry) in ranges.enumerated() {
                raw.storeBytes(of: entry.index.littleEndian, toByteOffset: n * recordSize, as: UInt32.self)
                raw.storeBytes(of: entry.range.lowerBound.littleEndian, toByteOffset: n * recordSize + 8, as: UInt64.self)
                raw.storeBytes(of: entry.range.upperBound.littleEndian, toByteOffset: n * recordSize + 16, as: UInt64.self)
            }
        }
        do {
            if ranges.isEmpty { try DurableFile.remove(path) } else { try DurableFile.replace(path, with: bytes) }
            return nil
        } catch {
            return error
        }
    }
}

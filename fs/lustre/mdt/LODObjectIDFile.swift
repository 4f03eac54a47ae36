import Glibc
import LibCFS

/// `lov_objid` on the MDT root, as Lustre keeps it: an array of UInt64 little-endian indexed by
/// OST index, each the last object id the MDT handed out on that OST (0: none yet).
///
/// Written whole to `lov_objid.tmp`, `fdatasync`ed, renamed over `lov_objid` and the directory
/// `fsync`ed, so a crash leaves either the old or the new array, never a mix.
enum LODObjectIDFile {
    static let name = "lov_objid"
    /// OST indexes above this are refused (Lustre's LOV_ALL_STRIPES bound).
    static let maxOSTIndex: UInt32 = 0xfffe

    /// Reads the array; a missing file is an empty array (a new MDT).
    static func read(root: String) throws(LustreError) -> [UInt64] {
        let path = "\(root)/\(name)"
        guard let bytes = try DurableFile.readIfPresent(path, limit: (Int(maxOSTIndex) + 1) * 8) else { return [] }
        guard bytes.count % 8 == 0 else {
            throw LustreError(errno: EUCLEAN, "\(path): \(bytes.count) bytes is not an array of OST object ids")
        }
        return bytes.withUnsafeBytes { raw in
            (0..<bytes.count / 8).map { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        }
    }

    /// Replaces the array durably. Blocking: call it on an OS thread.
    static func write(root: String, _ values: [UInt64]) -> LustreError? {
        let bytes = values.withUnsafeBytes { raw in
            [UInt8](unsafeUninitializedCapacity: raw.count) { buffer, count in
                for (n, value) in values.enumerated() {
                    UnsafeMutableRawPointer(buffer.baseAddress!).storeBytes(of: value.littleEndian, toByteOffset: n * 8,
                                                                           as: UInt64.self)
                }
                count = raw.count
            }
        }
        do {
            try DurableFile.replace("\(root)/\(name)", with: bytes)
            return nil
        } catch {
            return error
        }
    }
}

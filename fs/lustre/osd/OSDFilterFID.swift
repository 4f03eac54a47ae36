import ObdClass

/// The xattr that names the file an OST object belongs to: Lustre's `filter_fid`.
///
/// Layout, little-endian as on Lustre's disks: `ff_parent` (`lu_fid`, whose version field holds
/// the stripe index, as Lustre stores it), `ff_layout` (`ost_layout`: stripe size, stripe count,
/// component start, end, id), `ff_layout_version`, `ff_range`: 52 bytes.  Older Lustre wrote only
/// the 16-byte parent FID, so decoding accepts anything from 16 bytes on.
struct OSDFilterFID: Equatable, Sendable {
    /// Parent FID; its version is not kept (that field carries the stripe index).
    var parent: LustreFID
    var stripeIndex: UInt32
    var stripeCount: UInt32

    static let encodedSize = 52
    /// The xattr name Lustre uses; needs CAP_SYS_ADMIN.
    static let trustedName = "trusted.fid"
    /// Where the object's FID goes when `trusted.*` is refused (unprivileged development runs).
    static let userName = "user.lustre.fid"

    func encoded() -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(Self.encodedSize)
        func put<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        put(parent.sequence)
        put(parent.objectID)
        put(stripeIndex)        // ff_parent.f_ver
        put(UInt32(0))          // ol_stripe_size (unknown to the OST here)
        put(stripeCount)        // ol_stripe_count
        put(UInt64(0))          // ol_comp_start
        put(UInt64(0))          // ol_comp_end
        put(UInt32(0))          // ol_comp_id
        put(UInt32(0))          // ff_layout_version
        put(UInt32(0))          // ff_range
        return bytes
    }

    init(parent: LustreFID, stripeIndex: UInt32, stripeCount: UInt32) {
        self.parent = LustreFID(sequence: parent.sequence, objectID: parent.objectID, version: 0)
        self.stripeIndex = stripeIndex
        self.stripeCount = stripeCount
    }

    /// Decodes a stored value; nil if it is too short to hold a parent FID.
    init?(decoding bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 16 else { return nil }
        func get<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        parent = LustreFID(sequence: get(0, UInt64.self), objectID: get(8, UInt32.self), version: 0)
        stripeIndex = get(12, UInt32.self)
        stripeCount = bytes.count >= 24 ? get(20, UInt32.self) : 0
    }
}

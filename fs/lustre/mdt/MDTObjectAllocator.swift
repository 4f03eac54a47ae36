import LibCFS
import ObdClass

/// Objects for new files and destruction of old ones: implemented by the LOD (`LODDevice`).
public protocol MDTObjectAllocator: Sendable {
    /// Allocates one object per stripe for the new file `fid`: `layout` has the resolved
    /// settings (stripeSize non-zero, stripeCount 1...2000 or stripeCountAll, stripeOffset or
    /// stripeOffsetAny). Returns the instantiated layout (objects filled, fid set). Costs no
    /// OST round trip in the common case (precreated pool). Throws ENOSPC if no OST can serve.
    func allocate(for fid: LustreFID, layout: LustreLayout) async throws(LustreError) -> LustreLayout
    /// Makes the destruction of these objects durable (persistent llog) and performs it in the
    /// background; idempotent (replaying the same request is harmless).
    func destroy(_ objects: [LayoutObject], of fid: LustreFID) async throws(LustreError)
    /// During MDT log replay at start: these objects are in use (bumps lov_objid).
    func noteInUse(_ objects: [LayoutObject])
    /// Called by the MDT before it trims its write-ahead log: persist lov_objid etc.
    func checkpoint() async throws(LustreError)
    /// Statfs of every OST known, by index (nil: unreachable).
    func ostStatfs() async -> [(index: UInt32, statfs: ObdStatfs?)]
    /// Number of OSTs configured (for stripe count -1 and validation).
    var ostCount: Int { get }
}

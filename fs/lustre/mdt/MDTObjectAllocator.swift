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
    /// `destroy` for an operation whose MDT log record has transno `transno`: its objects must
    /// not go before that record is committed (were it lost in a crash, the file would still
    /// exist), and until then the MDT log, which replay reads, already holds the destroy, so the
    /// allocator need not make its own record durable before returning (`checkpoint` does).
    func destroy(_ objects: [LayoutObject], of fid: LustreFID, committingWith transno: UInt64) async throws(LustreError)
    /// The MDT's `lastCommitted` advanced to `transno`.
    func mdtCommitted(_ transno: UInt64)
    /// During MDT log replay at start: these objects are in use (bumps lov_objid).
    func noteInUse(_ objects: [LayoutObject])
    /// Objects handed out by `allocate` whose file's log record has just been appended (called
    /// synchronously right after the append, before the operation leaves the log): from now
    /// on log replay knows them. Objects handed out and never noted so are destroyed at the
    /// next start unless replay notes them in use.
    func noteLogged(_ objects: [LayoutObject])
    /// The MDT has finished its log replay at start (every `noteInUse` of the replay is done):
    /// objects handed out before the restart that replay did not note are destroyed, and
    /// destroys found in the allocator's own log go ahead unless `referenced` says the file
    /// still exists and uses that object.
    func replayFinished(referenced: @Sendable (LustreFID, LayoutObject) -> Bool) async
    /// Called by the MDT before it trims its write-ahead log: persist lov_objid etc.
    func checkpoint() async throws(LustreError)
    /// Statfs of every OST known, by index (nil: unreachable).
    func ostStatfs() async -> [(index: UInt32, statfs: ObdStatfs?)]
    /// Number of OSTs configured (for stripe count -1 and validation).
    var ostCount: Int { get }
    /// Takes the objects a replayed create names, if none was handed out to another file
    /// since; false otherwise (the create then gets new objects).
    func claim(_ objects: [LayoutObject]) -> Bool
}

extension MDTObjectAllocator {
    /// Default: the allocator does not track unlogged objects.
    public func noteLogged(_ objects: [LayoutObject]) {}
    /// Default: nothing to reconcile.
    public func replayFinished(referenced: @Sendable (LustreFID, LayoutObject) -> Bool) async {}
    /// After a start without an MDT namespace to ask: every logged destroy goes ahead.
    public func replayFinished() async { await replayFinished(referenced: { _, _ in false }) }
    /// Default: destroyed at once, durably.
    public func destroy(_ objects: [LayoutObject], of fid: LustreFID, committingWith transno: UInt64) async throws(LustreError) {
        try await destroy(objects, of: fid)
    }
    /// Default: commits do not matter.
    public func mdtCommitted(_ transno: UInt64) {}
    /// Default: no object is known free, so none is claimed.
    public func claim(_ objects: [LayoutObject]) -> Bool { false }
}

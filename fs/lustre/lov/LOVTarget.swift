import LibCFS
import OSC

/// One OST as the LOV sees it: its index in the filesystem, the OSC talking to it and the
/// write-back limit of that OSC (Lustre's `lov_tgt_desc`).
public struct LOVTarget: Sendable {
    /// The OST index (`obdidx` in `lfs getstripe`).
    public let index: UInt32
    public let osc: OSCDevice
    /// `osc.<osc>.max_dirty_mb` and the bytes held against it.
    public let dirtyLimit: LOVDirtyLimit

    public init(index: UInt32, osc: OSCDevice, dirtyLimit: LOVDirtyLimit) {
        self.index = index
        self.osc = osc
        self.dirtyLimit = dirtyLimit
    }

    /// Bytes of one full RPC to this OST (`max_pages_per_rpc` × 4 KiB).
    public var rpcBytes: Int { osc.maxPagesPerRPC.value * OSCDevice.pageSize }
}

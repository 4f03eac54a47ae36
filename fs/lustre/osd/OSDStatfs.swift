/// Space and inode counts of the volume under an OSD, as `OST_STATFS` reports them (`obd_statfs`).
public struct OSDStatfs: Sendable, Equatable {
    /// Bytes per block (the unit of `blocks`, `blocksFree`, `blocksAvailable`).
    public var blockSize: UInt64
    /// Blocks in the volume.
    public var blocks: UInt64
    /// Free blocks, including those reserved for root.
    public var blocksFree: UInt64
    /// Free blocks available to unprivileged users: what `lfs df` shows as available.
    public var blocksAvailable: UInt64
    /// `blocksAvailable` in bytes.
    public var availableBytes: UInt64 {
        let (bytes, overflow) = blocksAvailable.multipliedReportingOverflow(by: blockSize)
        return overflow ? .max : bytes
    }
    /// Inodes in the volume (the upper bound on objects).
    public var files: UInt64
    /// Free inodes.
    public var filesFree: UInt64
    /// Longest file name the volume accepts.
    public var nameLength: UInt32

    public init(blockSize: UInt64, blocks: UInt64, blocksFree: UInt64, blocksAvailable: UInt64,
                files: UInt64, filesFree: UInt64, nameLength: UInt32) {
        self.blockSize = blockSize
        self.blocks = blocks
        self.blocksFree = blocksFree
        self.blocksAvailable = blocksAvailable
        self.files = files
        self.filesFree = filesFree
        self.nameLength = nameLength
    }
}

import Glibc

/// A filesystem's space and inode counts as `statfs(2)` reports them (`struct statvfs`).
public struct FuseStatfs: Hashable, Sendable {
    /// The block size the counts are in (`f_bsize`, `f_frsize`).
    public var blockSize: UInt64 = 4096
    public var blocks: UInt64 = 0
    public var blocksFree: UInt64 = 0
    /// Free blocks unprivileged users may take.
    public var blocksAvailable: UInt64 = 0
    public var files: UInt64 = 0
    public var filesFree: UInt64 = 0
    public var nameMax: UInt64 = 255

    public init() {}

    var statvfs: Glibc.statvfs {
        var st = Glibc.statvfs()
        st.f_bsize = UInt(blockSize)
        st.f_frsize = UInt(blockSize)
        st.f_blocks = UInt(blocks)
        st.f_bfree = UInt(blocksFree)
        st.f_bavail = UInt(blocksAvailable)
        st.f_files = UInt(files)
        st.f_ffree = UInt(filesFree)
        st.f_favail = UInt(filesFree)
        st.f_namemax = UInt(nameMax)
        return st
    }
}

import ObdClass

/// Inode numbers as Lustre's client derives them from FIDs (`fid_flatten` in lustre_fid.h), so
/// `stat`, `ls -i` and `find -inum` show the numbers a Lustre client would.
enum InodeNumber {
    /// `FID_SEQ_IGIF` … `FID_SEQ_IGIF_MAX`: FIDs that wrap an old inode/generation pair.
    static let igifSequences: ClosedRange<UInt64> = 12...0xffff_ffff

    static func flatten(_ fid: LustreFID) -> UInt64 {
        if igifSequences.contains(fid.sequence) { return fid.sequence }
        let sequence = fid.sequence
        let inode = (sequence << 24) &+ ((sequence >> 24) & 0xff_ffff_0000) &+ UInt64(fid.objectID)
        return inode != 0 ? inode : UInt64(fid.objectID)
    }
}

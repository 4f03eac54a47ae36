import LibCFS
import ObdClass
import Synchronization

/// The files open in this client, by FID: one `LLiteInode` per file however many handles are
/// open (Lustre's inode cache, holding open files only). An inode leaves with its last close.
final class LLiteInodeTable: Sendable {
    private let inodes = Mutex<[LustreFID: LLiteInode]>([:])

    /// The inode of `fid` with one more open counted; `make` builds it if the file is not open
    /// here yet.
    func open(_ fid: LustreFID, make: () throws(LustreError) -> LLiteInode) throws(LustreError) -> LLiteInode {
        try inodes.withLock { (table: inout [LustreFID: LLiteInode]) throws(LustreError) in
            let inode: LLiteInode
            if let known = table[fid] { inode = known } else { inode = try make() }
            inode.opened()
            table[fid] = inode
            return inode
        }
    }

    /// Counts one close; the inode leaves the table (and its caches go) with the last one.
    func close(_ inode: LLiteInode) {
        let last = inodes.withLock { table -> Bool in
            guard inode.closed() == 0 else { return false }
            if table[inode.fid] === inode { table[inode.fid] = nil }
            return true
        }
        if last { inode.dropCaches() }
    }

    /// The inode of `fid` if the file is open here.
    subscript(fid: LustreFID) -> LLiteInode? { inodes.withLock { $0[fid] } }

    var all: [LLiteInode] { inodes.withLock { Array($0.values) } }

    /// Sends the held-back write-back runs on OST `ostIndex` of every open file: a writer is
    /// about to wait for room under that OSC's `max_dirty_mb`.
    func sendHeldBack(ostIndex: UInt32) {
        for inode in all { inode.sendHeldBack(ostIndex: ostIndex) }
    }

    /// Sends the held-back runs of every open file cached before `cutoff` (monotonic ns).
    func sendExpired(before cutoff: UInt64) {
        for inode in all { inode.sendExpired(before: cutoff) }
    }
}

import LustreCompat
import ObdClass

/// Translations between the MDT's records and the kernel's.
enum AttributeMapping {
    /// `st_blksize`: what `cp` and friends read and write at once; one default stripe.
    static let preferredIOSize: UInt32 = 1 << 20

    static func fuse(_ attributes: MDTAttributes) -> FuseAttributes {
        var result = FuseAttributes()
        result.inode = InodeNumber.flatten(attributes.fid)
        result.mode = attributes.mode
        result.nlink = attributes.nlink
        result.uid = attributes.uid
        result.gid = attributes.gid
        result.rdev = attributes.rdev
        result.size = attributes.size
        result.blocks = attributes.blocks
        result.blockSize = preferredIOSize
        result.atime = FuseTime(seconds: attributes.atime.seconds, nanoseconds: attributes.atime.nanoseconds)
        result.mtime = FuseTime(seconds: attributes.mtime.seconds, nanoseconds: attributes.mtime.nanoseconds)
        result.ctime = FuseTime(seconds: attributes.ctime.seconds, nanoseconds: attributes.ctime.nanoseconds)
        return result
    }

    /// The MDT's setattr for a kernel one (`chmod`, `chown`, `truncate`, `utimensat`).
    static func mdt(_ change: FuseSetattr) -> MDTSetattr {
        var valid: MDTSetattr.Valid = []
        if change.valid.contains(.mode) { valid.insert(.mode) }
        if change.valid.contains(.uid) { valid.insert(.uid) }
        if change.valid.contains(.gid) { valid.insert(.gid) }
        if change.valid.contains(.size) { valid.insert(.size) }
        if change.valid.contains(.atimeNow) { valid.insert(.atimeNow) } else if change.valid.contains(.atime) { valid.insert(.atime) }
        if change.valid.contains(.mtimeNow) { valid.insert(.mtimeNow) } else if change.valid.contains(.mtime) { valid.insert(.mtime) }
        if change.valid.contains(.ctime) { valid.insert(.ctime) }
        func time(_ t: FuseTime) -> MDTTime { MDTTime(seconds: t.seconds, nanoseconds: min(t.nanoseconds, 999_999_999)) }
        return MDTSetattr(valid: valid, mode: change.mode & 0o7777, uid: change.uid, gid: change.gid, size: change.size,
                          atime: time(change.atime), mtime: time(change.mtime), ctime: time(change.ctime))
    }
}

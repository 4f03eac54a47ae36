import LibCFS
import ObdClass

/// What becomes of an inode that loses a name.
enum MDTUnlinkDisposition: UInt8, Sendable {
    /// Other names remain.
    case keep = 0
    /// The last name went: the inode, its OI record and its OST objects are destroyed.
    case destroy = 1
    /// The last name went while the file is open: it moves to `PENDING/` until the last close.
    case orphan = 2
}

/// A new inode: everything needed to make it from nothing.
struct MDTCreateRecord: Equatable, Sendable {
    var parent: LustreFID
    var name: String
    var fid: LustreFID
    /// Type and permission bits.
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var rdev: UInt32
    var symlinkTarget: String
    /// `lov_mds_md` bytes: a file's layout or a directory's default; empty for none.
    var layout: [UInt8]
}

/// A name removed (unlink, rmdir, or the target of an overwriting rename).
struct MDTUnlinkRecord: Equatable, Sendable {
    var parent: LustreFID
    var name: String
    var fid: LustreFID
    var isDirectory: Bool
    /// The inode's names after the operation.
    var links: [MDTLink]
    var disposition: MDTUnlinkDisposition
    /// OST objects to destroy with the inode.
    var objects: [LayoutObject]
}

/// One entry of the MDT's write-ahead log. Each describes the absolute state it establishes
/// (names bound or unbound, attribute values, the full link list), never a delta, so replaying
/// it is idempotent and replaying the log in order over a tree that already holds some later
/// effects converges on the state after the last record (last writer wins).
enum MDTLogRecord: Equatable, Sendable {
    case create(MDTCreateRecord)
    case link(fid: LustreFID, parent: LustreFID, name: String, links: [MDTLink])
    case unlink(MDTUnlinkRecord)
    case rename(from: LustreFID, name: String, to: LustreFID, newName: String, fid: LustreFID,
                isDirectory: Bool, links: [MDTLink], overwritten: MDTUnlinkRecord?)
    /// Absolute values (times "now" resolved); `size` sets the size on MDS, with `blocks`.
    case setattr(fid: LustreFID, change: MDTSetattr, blocks: UInt64)
    /// A raw xattr set (`value`) or removed (nil).
    case setxattr(fid: LustreFID, name: String, value: [UInt8]?)
    /// The last close of an unlinked file.
    case destroyOrphan(fid: LustreFID, objects: [LayoutObject])

    private enum Tag: UInt8 {
        case create = 1, link, unlink, rename, setattr, setxattr, destroyOrphan
    }

    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        switch self {
        case .create(let r):
            out.append(Tag.create.rawValue)
            out.appendFID(r.parent); out.appendString16(r.name); out.appendFID(r.fid)
            out.appendLittleEndian(r.mode); out.appendLittleEndian(r.uid); out.appendLittleEndian(r.gid)
            out.appendLittleEndian(r.rdev); out.appendString16(r.symlinkTarget); out.appendBytes32(r.layout)
        case .link(let fid, let parent, let name, let links):
            out.append(Tag.link.rawValue)
            out.appendFID(fid); out.appendFID(parent); out.appendString16(name); out.appendLinks(links)
        case .unlink(let r):
            out.append(Tag.unlink.rawValue)
            out.appendUnlink(r)
        case .rename(let from, let name, let to, let newName, let fid, let isDirectory, let links, let overwritten):
            out.append(Tag.rename.rawValue)
            out.appendFID(from); out.appendString16(name); out.appendFID(to); out.appendString16(newName)
            out.appendFID(fid); out.append(isDirectory ? 1 : 0); out.appendLinks(links)
            if let overwritten {
                out.append(1)
                out.appendUnlink(overwritten)
            } else {
                out.append(0)
            }
        case .setattr(let fid, let change, let blocks):
            out.append(Tag.setattr.rawValue)
            out.appendFID(fid)
            out.appendLittleEndian(change.valid.rawValue); out.appendLittleEndian(change.mode)
            out.appendLittleEndian(change.uid); out.appendLittleEndian(change.gid); out.appendLittleEndian(change.size)
            for time in [change.atime, change.mtime, change.ctime] {
                out.appendLittleEndian(time.seconds); out.appendLittleEndian(time.nanoseconds)
            }
            out.appendLittleEndian(blocks)
        case .setxattr(let fid, let name, let value):
            out.append(Tag.setxattr.rawValue)
            out.appendFID(fid); out.appendString16(name)
            out.append(value == nil ? 0 : 1); out.appendBytes32(value ?? [])
        case .destroyOrphan(let fid, let objects):
            out.append(Tag.destroyOrphan.rawValue)
            out.appendFID(fid); out.appendObjects(objects)
        }
        return out
    }

    init(decoding bytes: [UInt8]) throws(LustreError) {
        var r = MDTByteReader(bytes)
        guard let tag = Tag(rawValue: try r.read(UInt8.self)) else { throw .protocolError("unknown MDT log record") }
        switch tag {
        case .create:
            let parent = try r.readFID(), name = try r.readString16(), fid = try r.readFID()
            let mode = try r.read(UInt32.self), uid = try r.read(UInt32.self), gid = try r.read(UInt32.self)
            let rdev = try r.read(UInt32.self), target = try r.readString16()
            let layout = try r.readBytes(length: Int(try r.read(UInt32.self)))
            self = .create(MDTCreateRecord(parent: parent, name: name, fid: fid, mode: mode, uid: uid, gid: gid,
                                           rdev: rdev, symlinkTarget: target, layout: layout))
        case .link:
            self = .link(fid: try r.readFID(), parent: try r.readFID(), name: try r.readString16(),
                         links: try r.readLinks())
        case .unlink:
            self = .unlink(try r.readUnlink())
        case .rename:
            let from = try r.readFID(), name = try r.readString16(), to = try r.readFID()
            let newName = try r.readString16(), fid = try r.readFID(), isDirectory = try r.read(UInt8.self) == 1
            let links = try r.readLinks()
            let overwritten = try r.read(UInt8.self) == 1 ? try r.readUnlink() : nil
            self = .rename(from: from, name: name, to: to, newName: newName, fid: fid, isDirectory: isDirectory,
                           links: links, overwritten: overwritten)
        case .setattr:
            let fid = try r.readFID()
            var change = MDTSetattr(valid: MDTSetattr.Valid(rawValue: try r.read(UInt32.self)))
            change.mode = try r.read(UInt32.self); change.uid = try r.read(UInt32.self)
            change.gid = try r.read(UInt32.self); change.size = try r.read(UInt64.self)
            var times: [MDTTime] = []
            for _ in 0..<3 {
                times.append(MDTTime(seconds: try r.read(Int64.self), nanoseconds: try r.read(UInt32.self)))
            }
            change.atime = times[0]; change.mtime = times[1]; change.ctime = times[2]
            self = .setattr(fid: fid, change: change, blocks: try r.read(UInt64.self))
        case .setxattr:
            let fid = try r.readFID(), name = try r.readString16(), present = try r.read(UInt8.self) == 1
            let value = try r.readBytes(length: Int(try r.read(UInt32.self)))
            self = .setxattr(fid: fid, name: name, value: present ? value : nil)
        case .destroyOrphan:
            self = .destroyOrphan(fid: try r.readFID(), objects: try r.readObjects())
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendFID(_ fid: LustreFID) {
        appendLittleEndian(fid.sequence); appendLittleEndian(fid.objectID); appendLittleEndian(fid.version)
    }

    mutating func appendLinks(_ links: [MDTLink]) {
        appendLittleEndian(UInt16(links.count))
        for link in links { appendFID(link.parent); appendString16(link.name) }
    }

    mutating func appendObjects(_ objects: [LayoutObject]) {
        appendLittleEndian(UInt32(objects.count))
        for object in objects {
            appendLittleEndian(object.ostIndex); appendLittleEndian(object.id.sequence)
            appendLittleEndian(object.id.objectID)
        }
    }

    mutating func appendUnlink(_ r: MDTUnlinkRecord) {
        appendFID(r.parent); appendString16(r.name); appendFID(r.fid); append(r.isDirectory ? 1 : 0)
        appendLinks(r.links); append(r.disposition.rawValue); appendObjects(r.objects)
    }
}

extension MDTByteReader {
    mutating func readFID() throws(LustreError) -> LustreFID {
        LustreFID(sequence: try read(UInt64.self), objectID: try read(UInt32.self), version: try read(UInt32.self))
    }

    mutating func readString16() throws(LustreError) -> String { try readString(length: Int(try read(UInt16.self))) }

    mutating func readLinks() throws(LustreError) -> [MDTLink] {
        var links: [MDTLink] = []
        for _ in 0..<(try read(UInt16.self)) { links.append(MDTLink(parent: try readFID(), name: try readString16())) }
        return links
    }

    mutating func readObjects() throws(LustreError) -> [LayoutObject] {
        let count = try read(UInt32.self)
        guard Int(count) <= LustreLayout.maxStripeCount else { throw .protocolError("\(count) objects in a log record") }
        var objects: [LayoutObject] = []
        for _ in 0..<count {
            let ost = try read(UInt32.self)
            objects.append(LayoutObject(ostIndex: ost, id: OSTObjectID(sequence: try read(UInt64.self),
                                                                       objectID: try read(UInt64.self))))
        }
        return objects
    }

    mutating func readUnlink() throws(LustreError) -> MDTUnlinkRecord {
        let parent = try readFID(), name = try readString16(), fid = try readFID()
        let isDirectory = try read(UInt8.self) == 1, links = try readLinks()
        guard let disposition = MDTUnlinkDisposition(rawValue: try read(UInt8.self)) else {
            throw .protocolError("bad unlink disposition")
        }
        return MDTUnlinkRecord(parent: parent, name: name, fid: fid, isDirectory: isDirectory, links: links,
                               disposition: disposition, objects: try readObjects())
    }
}

import LibCFS
import ObdClass

/// One name of an inode: the parent directory's FID and the entry name.
struct MDTLink: Hashable, Sendable {
    var parent: LustreFID
    var name: String
}

/// The names of an inode (Lustre's link EA in `trusted.link`, simplified): magic, count, then per
/// name the parent FID (16), the name length (2) and the name. Lets fid2path walk to the root
/// and lets the checker match entries to inodes; hard links have one record each.
enum MDTLinkXattr {
    static let magic: UInt32 = 0x11EA_F1DF   // LINK_EA_MAGIC
    /// More names than this is refused (the xattr must fit an ext4 block).
    static let maxLinks = 200

    static func encode(_ links: [MDTLink]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(magic)
        bytes.appendLittleEndian(UInt32(links.count))
        for link in links {
            bytes.appendLittleEndian(link.parent.sequence)
            bytes.appendLittleEndian(link.parent.objectID)
            bytes.appendLittleEndian(link.parent.version)
            bytes.appendLittleEndian(UInt16(link.name.utf8.count))
            bytes.append(contentsOf: link.name.utf8)
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) throws(LustreError) -> [MDTLink] {
        var reader = MDTByteReader(bytes)
        guard try reader.read(UInt32.self) == magic else { throw .protocolError("bad link xattr magic") }
        let count = try reader.read(UInt32.self)
        guard count <= 4096 else { throw .protocolError("link xattr with \(count) names") }
        var links: [MDTLink] = []
        for _ in 0..<count {
            let parent = LustreFID(sequence: try reader.read(UInt64.self), objectID: try reader.read(UInt32.self),
                                   version: try reader.read(UInt32.self))
            links.append(MDTLink(parent: parent, name: try reader.readString(length: Int(try reader.read(UInt16.self)))))
        }
        return links
    }
}

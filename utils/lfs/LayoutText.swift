import LibCFS
import NIOCore
import ObdClass

/// `lfs getstripe`'s text, as Lustre prints it (`llapi_lov_dump_user_lmm`).
enum LayoutText {
    /// Which fields to print: all, or only those asked for with -c, -S, -L, -g, -i (in that order).
    struct Fields: OptionSet {
        let rawValue: Int
        static let count = Fields(rawValue: 1)
        static let size = Fields(rawValue: 2)
        static let offset = Fields(rawValue: 4)
        static let pattern = Fields(rawValue: 8)
        static let generation = Fields(rawValue: 16)
        static let all: Fields = [.count, .size, .pattern, .generation, .offset]
    }

    /// How a file's layout is printed beyond the fields.
    struct Style {
        /// `-y`: the objects as a YAML list of `l_ost_idx` and `l_fid`.
        var yaml = false
        /// `-v`: the magic, the file's FID as `lmm_seq` and `lmm_object_id`, and `lmm_fid` first.
        var verbose = false
        /// `-O`: objects on this OST are marked with ` *` in the table.
        var markedOST: UInt32?
    }

    static func decode(_ bytes: [UInt8]) throws(LustreError) -> LustreLayout {
        var buffer = ByteBuffer(bytes: bytes)
        return try LustreLayout(decoding: &buffer)
    }

    /// A file's layout: header lines then one line per object (all fields); the value alone
    /// when one field is asked for, labelled lines for several.
    static func file(_ layout: LustreLayout, fields: Fields, style: Style = Style()) -> String {
        let lines: [(Fields, String, String)] = [
            (.count, "lmm_stripe_count:  ", String(layout.stripeCountValue)),
            (.size, "lmm_stripe_size:   ", String(layout.stripeSize)),
            (.pattern, "lmm_pattern:       ", pattern(layout)),
            (.generation, "lmm_layout_gen:    ", String(layout.layoutGeneration)),
            (.offset, "lmm_stripe_offset: ", String(layout.stripeOffsetValue)),
        ]
        let chosen = lines.filter { fields.contains($0.0) }
        if chosen.count == 1 && !style.verbose { return chosen[0].2 + "\n" }
        var text = ""
        if style.verbose {
            text += "lmm_magic:         0x" + hex8(LustreLayout.magicV1) + "\n"
            text += "lmm_seq:           0x" + String(layout.fid.sequence, radix: 16) + "\n"
            text += "lmm_object_id:     0x" + String(layout.fid.objectID, radix: 16) + "\n"
            text += "lmm_fid:           \(layout.fid)\n"
        }
        for (_, label, value) in chosen { text += label + value + "\n" }
        guard fields == .all, layout.isInstantiated else { return text }
        if style.yaml {
            text += "lmm_objects:\n"
            for object in layout.objects {
                let fid = objectFID(object)
                text += "      - l_ost_idx: \(object.ostIndex)\n"
                text += "        l_fid:     0x\(String(fid.sequence, radix: 16)):0x\(String(fid.objectID, radix: 16)):0x0\n"
            }
            return text
        }
        text += "\tobdidx\t\t objid\t\t objid\t\t group\n"
        for object in layout.objects {
            text += "\t" + pad(String(object.ostIndex), 6) + "\t" + pad(String(object.id.objectID), 14)
                + "\t" + pad("0x" + String(object.id.objectID, radix: 16), 13) + "\t" + pad(String(object.id.sequence), 14)
                + (style.markedOST == object.ostIndex ? " *" : "") + "\n"
        }
        return text
    }

    /// A directory's default layout, on one line (one `name: value` per line with `yaml`).
    static func directory(_ layout: LustreLayout, fields: Fields, yaml: Bool = false) -> String {
        let all: [(Fields, String, String)] = [
            (.count, "stripe_count:  ", String(layout.stripeCountValue)),
            (.size, "stripe_size:   ", String(layout.stripeSize)),
            (.pattern, "pattern:       ", pattern(layout)),
            (.offset, "stripe_offset: ", String(layout.stripeOffsetValue)),
        ]
        // A directory has no layout generation of its own.
        let chosen = all.filter { fields.contains($0.0) }
        if chosen.isEmpty { return "" }
        if chosen.count == 1 && fields != .all { return chosen[0].2 + "\n" }
        return chosen.map { $0.1 + $0.2 }.joined(separator: yaml ? "\n" : " ") + "\n"
    }

    /// The FID of an OST object as Lustre shows it (`ostid_to_fid`): objects of the MDT0
    /// sequence get an IDIF FID, which holds the OST index.
    static func objectFID(_ object: LayoutObject) -> (sequence: UInt64, objectID: UInt64) {
        guard object.id.sequence == OSTObjectID.mdt0Sequence else {
            return (object.id.sequence, object.id.objectID & 0xffff_ffff)
        }
        let idif: UInt64 = 0x1_0000_0000
        return (idif | UInt64(object.ostIndex & 0xffff) << 16 | (object.id.objectID >> 32) & 0xffff,
                object.id.objectID & 0xffff_ffff)
    }

    static func pattern(_ layout: LustreLayout) -> String {
        layout.pattern == LustreLayout.patternRAID0 ? "raid0" : "0x" + String(layout.pattern, radix: 16)
    }

    /// `%08X`.
    static func hex8(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// Right-aligns `text` in `width` columns (printf's `%Nu`).
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// Left-aligns `text` in `width` columns (printf's `%-Ns`).
    static func padRight(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}

import LibCFS
import NIOCore
import ObdClass

/// `lfs getstripe`'s text, as Lustre prints it (`llapi_lov_dump_user_lmm`).
enum LayoutText {
    /// Which fields to print: all, or only those asked for with -c, -S, -i.
    struct Fields: OptionSet {
        let rawValue: Int
        static let count = Fields(rawValue: 1)
        static let size = Fields(rawValue: 2)
        static let offset = Fields(rawValue: 4)
        static let all: Fields = [.count, .size, .offset]
    }

    static func decode(_ bytes: [UInt8]) throws(LustreError) -> LustreLayout {
        var buffer = ByteBuffer(bytes: bytes)
        return try LustreLayout(decoding: &buffer)
    }

    /// A file's layout: header lines then one line per object.
    static func file(_ layout: LustreLayout, fields: Fields) -> String {
        if fields != .all {
            var values: [String] = []
            if fields.contains(.count) { values.append(String(layout.stripeCountValue)) }
            if fields.contains(.size) { values.append(String(layout.stripeSize)) }
            if fields.contains(.offset) { values.append(String(layout.stripeOffsetValue)) }
            return values.joined(separator: "\n") + "\n"
        }
        var text = ""
        text += "lmm_stripe_count:  \(layout.stripeCountValue)\n"
        text += "lmm_stripe_size:   \(layout.stripeSize)\n"
        text += "lmm_pattern:       \(pattern(layout))\n"
        text += "lmm_layout_gen:    \(layout.layoutGeneration)\n"
        text += "lmm_stripe_offset: \(layout.stripeOffsetValue)\n"
        if layout.isInstantiated {
            text += "\tobdidx\t\t objid\t\t objid\t\t group\n"
            for object in layout.objects {
                text += "\t" + pad(String(object.ostIndex), 6) + "\t" + pad(String(object.id.objectID), 14)
                    + "\t" + pad("0x" + String(object.id.objectID, radix: 16), 13) + "\t" + pad(String(object.id.sequence), 14) + "\n"
            }
        }
        return text
    }

    /// A directory's default layout, on one line.
    static func directory(_ layout: LustreLayout, fields: Fields) -> String {
        var parts: [String] = []
        if fields.contains(.count) { parts.append((fields == .count ? "" : "stripe_count:  ") + String(layout.stripeCountValue)) }
        if fields.contains(.size) { parts.append((fields == .size ? "" : "stripe_size:   ") + String(layout.stripeSize)) }
        if fields == .all { parts.append("pattern:       \(pattern(layout))") }
        if fields.contains(.offset) { parts.append((fields == .offset ? "" : "stripe_offset: ") + String(layout.stripeOffsetValue)) }
        return parts.joined(separator: " ") + "\n"
    }

    static func pattern(_ layout: LustreLayout) -> String {
        layout.pattern == LustreLayout.patternRAID0 ? "raid0" : "0x" + String(layout.pattern, radix: 16)
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

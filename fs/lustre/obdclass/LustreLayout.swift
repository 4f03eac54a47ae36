import LibCFS
import NIOCore

/// One stripe of a file: the OST that holds it and the object there (`lov_ost_data_v1`).
public struct LayoutObject: Hashable, Sendable {
    public var ostIndex: UInt32
    public var id: OSTObjectID

    public init(ostIndex: UInt32, id: OSTObjectID) {
        self.ostIndex = ostIndex
        self.id = id
    }
}

/// A RAID-0 file layout (Lustre's `lov_mds_md_v1` / `lov_user_md_v1`): stripe size, count and
/// the first OST, plus, once the file's objects are allocated, one `LayoutObject` per stripe.
///
/// A directory's default layout and a `setstripe` request carry no objects; there `stripeCount`
/// 0 means "inherit", `stripeCountAll` (-1 on the wire, 0xffff) means every OST, `stripeSize` 0
/// means "inherit" and `stripeOffsetAny` (0xffff) lets the MDS choose the first OST.
public struct LustreLayout: Equatable, Sendable {
    public static let magicV1: UInt32 = 0x0BD1_0BD0      // LOV_MAGIC_V1
    public static let patternRAID0: UInt32 = 0x1         // LOV_PATTERN_RAID0
    public static let stripeCountAll: UInt16 = 0xffff
    public static let stripeOffsetAny: UInt16 = 0xffff
    public static let defaultStripeSize: UInt32 = 1 << 20
    /// Stripe sizes are whole multiples of this (`LOV_MIN_STRIPE_SIZE`).
    public static let minStripeSize: UInt32 = 64 << 10
    /// Lustre's `LOV_MAX_STRIPE_COUNT`.
    public static let maxStripeCount = 2000
    public static let headerSize = 32
    public static let objectSize = 24
    public static let maxEncodedSize = headerSize + maxStripeCount * objectSize

    public var pattern: UInt32 = LustreLayout.patternRAID0
    /// The file this layout belongs to (`lmm_oi`); zero in requests and directory defaults.
    public var fid: LustreFID = .zero
    public var stripeSize: UInt32
    public var stripeCount: UInt16
    /// The first OST (requests and defaults), `stripeOffsetAny` for "any".
    public var stripeOffset: UInt16
    /// Bumped whenever the objects change (`lmm_layout_gen`).
    public var layoutGeneration: UInt16 = 0
    /// The objects, stripe by stripe; empty for requests and directory defaults.
    public var objects: [LayoutObject] = []

    public init(stripeSize: UInt32 = 0, stripeCount: UInt16 = 0, stripeOffset: UInt16 = LustreLayout.stripeOffsetAny,
                objects: [LayoutObject] = []) {
        self.stripeSize = stripeSize
        self.stripeCount = stripeCount
        self.stripeOffset = stripeOffset
        self.objects = objects
    }

    /// Whether this layout names objects (a file's) or only stripe settings (a request or default).
    public var isInstantiated: Bool { !objects.isEmpty }

    /// `stripe_count` as `lfs` shows it: -1 for "all OSTs".
    public var stripeCountValue: Int { stripeCount == Self.stripeCountAll ? -1 : Int(stripeCount) }
    /// `stripe_offset` as `lfs` shows it: -1 for "any".
    public var stripeOffsetValue: Int { stripeOffset == Self.stripeOffsetAny ? -1 : Int(stripeOffset) }

    /// Checks a request or a default: stripe size a multiple of 64 KiB below 4 GiB (0 = inherit),
    /// count 0...2000 or all, offset any or below 65535. The error says what is wrong.
    public func validateSettings() throws(LustreError) {
        guard pattern == Self.patternRAID0 else {
            throw .invalid("unsupported layout pattern 0x\(String(pattern, radix: 16)): only raid0")
        }
        guard stripeSize % Self.minStripeSize == 0 else {
            throw .invalid("stripe size \(stripeSize) is not a multiple of 65536")
        }
        guard stripeCount == Self.stripeCountAll || Int(stripeCount) <= Self.maxStripeCount else {
            throw .invalid("stripe count \(stripeCount) is above \(Self.maxStripeCount)")
        }
    }

    /// Lustre's binary form: the 32-byte header, then 24 bytes per object. With objects the
    /// header's last 16 bits hold the layout generation (`lov_mds_md`), without them the stripe
    /// offset (`lov_user_md`), as Lustre overlays them.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.magicV1, endianness: .little)
        buffer.writeInteger(pattern, endianness: .little)
        // lmm_oi is an ost_id: for a FID, the sequence then the object id and version.
        buffer.writeInteger(fid.sequence, endianness: .little)
        buffer.writeInteger(UInt64(fid.objectID) | UInt64(fid.version) << 32, endianness: .little)
        buffer.writeInteger(stripeSize, endianness: .little)
        buffer.writeInteger(stripeCount, endianness: .little)
        buffer.writeInteger(isInstantiated ? layoutGeneration : stripeOffset, endianness: .little)
        for object in objects {
            buffer.writeInteger(object.id.objectID, endianness: .little)
            buffer.writeInteger(object.id.sequence, endianness: .little)
            buffer.writeInteger(UInt32(0), endianness: .little)   // l_ost_gen
            buffer.writeInteger(object.ostIndex, endianness: .little)
        }
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(Self.headerSize + objects.count * Self.objectSize)
        encode(into: &buffer)
        return buffer
    }

    /// Decodes a layout of `buffer.readableBytes` bytes: a header alone is a request or a
    /// default; each further 24 bytes is one object. Anything else is `EPROTO`/`EINVAL`.
    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        let length = buffer.readableBytes
        guard length >= Self.headerSize else { throw .protocolError("layout of \(length) bytes is truncated") }
        guard length <= Self.maxEncodedSize, (length - Self.headerSize) % Self.objectSize == 0 else {
            throw .protocolError("layout of \(length) bytes is not a header plus whole objects")
        }
        let magic: UInt32 = buffer.readInteger(endianness: .little)!
        guard magic == Self.magicV1 else {
            throw .invalid("bad layout magic 0x\(String(magic, radix: 16)) (expected 0x\(String(Self.magicV1, radix: 16)))")
        }
        pattern = buffer.readInteger(endianness: .little)!
        let sequence: UInt64 = buffer.readInteger(endianness: .little)!
        let oidAndVersion: UInt64 = buffer.readInteger(endianness: .little)!
        fid = LustreFID(sequence: sequence, objectID: UInt32(truncatingIfNeeded: oidAndVersion),
                        version: UInt32(truncatingIfNeeded: oidAndVersion >> 32))
        stripeSize = buffer.readInteger(endianness: .little)!
        stripeCount = buffer.readInteger(endianness: .little)!
        let last: UInt16 = buffer.readInteger(endianness: .little)!
        let count = (length - Self.headerSize) / Self.objectSize
        objects.reserveCapacity(count)
        for _ in 0..<count {
            let oid: UInt64 = buffer.readInteger(endianness: .little)!
            let seq: UInt64 = buffer.readInteger(endianness: .little)!
            _ = buffer.readInteger(endianness: .little, as: UInt32.self)
            let ost: UInt32 = buffer.readInteger(endianness: .little)!
            objects.append(LayoutObject(ostIndex: ost, id: OSTObjectID(sequence: seq, objectID: oid)))
        }
        if objects.isEmpty {
            stripeOffset = last
        } else {
            guard Int(stripeCount) == objects.count else {
                throw .protocolError("layout says \(stripeCount) stripes but holds \(objects.count) objects")
            }
            layoutGeneration = last
            stripeOffset = UInt16(truncatingIfNeeded: objects[0].ostIndex)
        }
    }
}

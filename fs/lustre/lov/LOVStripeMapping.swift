import LibCFS
import ObdClass

#if canImport(Glibc)
import Glibc
#endif

/// One contiguous piece of a file range that lies in a single stripe unit: which stripe, where in
/// that stripe's object, and where in the file (Lustre's `lov_stripe_offset` for one unit).
public struct LOVPiece: Equatable, Sendable {
    /// Index into the layout's objects.
    public var stripe: Int
    /// Offset inside the stripe's object.
    public var objectOffset: UInt64
    /// Offset inside the file.
    public var fileOffset: UInt64
    /// Bytes, never crossing a stripe unit.
    public var length: Int

    public init(stripe: Int, objectOffset: UInt64, fileOffset: UInt64, length: Int) {
        self.stripe = stripe
        self.objectOffset = objectOffset
        self.fileOffset = fileOffset
        self.length = length
    }

    /// The object offset just past the piece.
    public var objectEnd: UInt64 { objectOffset + UInt64(length) }
}

/// RAID-0 arithmetic of a layout: file offsets to (stripe, object offset) and back, and file sizes
/// to object sizes and back (Lustre's `lov_stripe_offset`, `lov_size_to_stripe`,
/// `lov_stripe_size`). Pure values: no I/O.
///
/// Byte `f` of the file is in stripe unit `u = f / stripe_size`, which is stripe `u % count`,
/// at object offset `(u / count) * stripe_size + f % stripe_size`.
public struct LOVStripeMapping: Equatable, Sendable {
    public let stripeSize: UInt64
    public let stripeCount: Int

    /// The mapping of `stripeSize` bytes per unit over `stripeCount` objects. `EINVAL` for a zero
    /// stripe size or count: an uninstantiated layout has no mapping.
    public init(stripeSize: UInt64, stripeCount: Int) throws(LustreError) {
        guard stripeSize > 0 else { throw .invalid("stripe size 0 has no mapping") }
        guard stripeCount > 0, stripeCount <= LustreLayout.maxStripeCount else {
            throw .invalid("stripe count \(stripeCount) has no mapping (1...\(LustreLayout.maxStripeCount))")
        }
        self.stripeSize = stripeSize
        self.stripeCount = stripeCount
    }

    /// The mapping of an instantiated layout: one stripe per object.
    public init(layout: LustreLayout) throws(LustreError) {
        guard layout.isInstantiated else { throw .invalid("layout of \(layout.fid) has no objects") }
        guard Int(layout.stripeCount) == layout.objects.count else {
            throw .invalid("layout of \(layout.fid) says \(layout.stripeCount) stripes but holds \(layout.objects.count) objects")
        }
        try self.init(stripeSize: UInt64(layout.stripeSize), stripeCount: layout.objects.count)
    }

    /// The stripe and object offset of file byte `fileOffset`.
    public func locate(_ fileOffset: UInt64) -> (stripe: Int, objectOffset: UInt64) {
        let unit = fileOffset / stripeSize
        let count = UInt64(stripeCount)
        return (Int(unit % count), (unit / count) * stripeSize + fileOffset % stripeSize)
    }

    /// The file offset of byte `objectOffset` of stripe `stripe`.
    public func fileOffset(stripe: Int, objectOffset: UInt64) -> UInt64 {
        let unitInObject = objectOffset / stripeSize
        return (unitInObject * UInt64(stripeCount) + UInt64(stripe)) * stripeSize + objectOffset % stripeSize
    }

    /// `[offset, offset + length)` cut at stripe-unit boundaries, in file order. `EFBIG` if the
    /// range passes 2^64.
    public func pieces(offset: UInt64, length: Int) throws(LustreError) -> [LOVPiece] {
        guard length >= 0 else { throw .invalid("negative length \(length)") }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        guard !overflow else { throw LustreError(errno: EFBIG, "range \(offset)+\(length) passes 2^64") }
        var result: [LOVPiece] = []
        result.reserveCapacity(Int(min((UInt64(length) / stripeSize) + 2, 4096)))
        var position = offset
        while position < end {
            let (stripe, objectOffset) = locate(position)
            let room = stripeSize - position % stripeSize
            let take = min(room, end - position)
            result.append(LOVPiece(stripe: stripe, objectOffset: objectOffset, fileOffset: position, length: Int(take)))
            position += take
        }
        return result
    }

    /// How many bytes of stripe `stripe`'s object lie below file offset `fileSize`: the object's
    /// size when the file is `fileSize` bytes long (`lov_size_to_stripe`).
    /// The part of each stripe's object that holds file bytes `[start, end)`: one contiguous
    /// range per stripe (empty ones left out), however many stripe units the range spans.
    public func objectRanges(start: UInt64, end: UInt64) -> [(stripe: Int, start: UInt64, end: UInt64)] {
        (0..<stripeCount).compactMap { stripe in
            let from = objectSize(forFileSize: start, stripe: stripe)
            let to = objectSize(forFileSize: end, stripe: stripe)
            return from < to ? (stripe, from, to) : nil
        }
    }

    public func objectSize(forFileSize fileSize: UInt64, stripe: Int) -> UInt64 {
        let units = fileSize / stripeSize
        let remainder = fileSize % stripeSize
        let count = UInt64(stripeCount)
        let fullRounds = units / count
        let lastStripe = Int(units % count)
        var size = fullRounds * stripeSize
        if stripe < lastStripe {
            size += stripeSize
        } else if stripe == lastStripe {
            size += remainder
        }
        return size
    }

    /// The file size implied by stripe `stripe`'s object being `objectSize` bytes long: just past
    /// the object's last byte, mapped back into the file (0 for an empty object). The file's size
    /// is the largest of these over its stripes (`lov_merge_lvb`).
    public func fileSize(stripe: Int, objectSize: UInt64) -> UInt64 {
        guard objectSize > 0 else { return 0 }
        return fileOffset(stripe: stripe, objectOffset: objectSize - 1) + 1
    }
}

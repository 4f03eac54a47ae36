import LOV
import LibCFS
import ObdClass
import XCTest

/// RAID-0 arithmetic of LOVStripeMapping: pieces, object sizes and file sizes.
final class LOVStripeMappingTests: XCTestCase {
    private let mib: UInt64 = 1 << 20

    func testOneStripeMapsTheFileOntoItsObjectOneToOne() throws {
        let mapping = try LOVStripeMapping(stripeSize: mib, stripeCount: 1)
        let pieces = try mapping.pieces(offset: 100, length: Int(3 * mib))
        XCTAssertEqual(pieces.map(\.stripe), [0, 0, 0, 0])
        XCTAssertEqual(pieces.map(\.objectOffset), [100, mib, 2 * mib, 3 * mib])
        XCTAssertEqual(pieces.map(\.fileOffset), [100, mib, 2 * mib, 3 * mib])
        XCTAssertEqual(pieces.map(\.length), [Int(mib) - 100, Int(mib), Int(mib), 100])
        XCTAssertEqual(mapping.objectSize(forFileSize: 12345, stripe: 0), 12345)
        XCTAssertEqual(mapping.fileSize(stripe: 0, objectSize: 12345), 12345)
    }

    func testTwoStripesAlternateByStripeUnit() throws {
        let mapping = try LOVStripeMapping(stripeSize: mib, stripeCount: 2)
        let pieces = try mapping.pieces(offset: 0, length: Int(4 * mib))
        XCTAssertEqual(pieces.map(\.stripe), [0, 1, 0, 1])
        XCTAssertEqual(pieces.map(\.objectOffset), [0, 0, mib, mib])
        XCTAssertEqual(pieces.map(\.fileOffset), [0, mib, 2 * mib, 3 * mib])
    }

    func testPiecesStopExactlyAtStripeBoundaries() throws {
        let mapping = try LOVStripeMapping(stripeSize: 64 << 10, stripeCount: 3)
        // One byte before a boundary to one byte after it.
        let pieces = try mapping.pieces(offset: (64 << 10) - 1, length: 2)
        XCTAssertEqual(pieces, [
            LOVPiece(stripe: 0, objectOffset: (64 << 10) - 1, fileOffset: (64 << 10) - 1, length: 1),
            LOVPiece(stripe: 1, objectOffset: 0, fileOffset: 64 << 10, length: 1),
        ])
        // A range ending on a boundary does not produce an empty piece.
        let exact = try mapping.pieces(offset: 0, length: 64 << 10)
        XCTAssertEqual(exact.count, 1)
        XCTAssertEqual(try mapping.pieces(offset: 77, length: 0), [])
    }

    func testManyStripesWrapAroundToTheFirstObject() throws {
        let mapping = try LOVStripeMapping(stripeSize: mib, stripeCount: 7)
        let (stripe, objectOffset) = mapping.locate(7 * mib + 5)
        XCTAssertEqual(stripe, 0)
        XCTAssertEqual(objectOffset, mib + 5)
        let (last, lastOffset) = mapping.locate(13 * mib + 9)
        XCTAssertEqual(last, 6)
        XCTAssertEqual(lastOffset, mib + 9)
        XCTAssertEqual(mapping.fileOffset(stripe: 6, objectOffset: mib + 9), 13 * mib + 9)
    }

    func testOffsetsBeyondFourGiBMapBackAndForth() throws {
        let mapping = try LOVStripeMapping(stripeSize: mib, stripeCount: 3)
        let offset: UInt64 = (5 << 30) + 12345
        let (stripe, objectOffset) = mapping.locate(offset)
        // Unit 5120 of a 3-stripe file: stripe 5120 % 3 = 2, object unit 1706.
        XCTAssertEqual(stripe, 2)
        XCTAssertEqual(objectOffset, 1706 * mib + 12345)
        XCTAssertEqual(mapping.fileOffset(stripe: stripe, objectOffset: objectOffset), offset)
        let pieces = try mapping.pieces(offset: offset, length: Int(2 * mib))
        XCTAssertEqual(pieces.reduce(0) { $0 + $1.length }, Int(2 * mib))
        XCTAssertEqual(pieces.first?.fileOffset, offset)
        for piece in pieces {
            XCTAssertEqual(mapping.fileOffset(stripe: piece.stripe, objectOffset: piece.objectOffset), piece.fileOffset)
        }
    }

    func testEveryByteMapsToADistinctObjectByte() throws {
        let mapping = try LOVStripeMapping(stripeSize: 64 << 10, stripeCount: 4)
        var seen = Set<[UInt64]>()
        for offset in stride(from: UInt64(0), to: 1 << 20, by: 4093) {
            let (stripe, objectOffset) = mapping.locate(offset)
            XCTAssertTrue(seen.insert([UInt64(stripe), objectOffset]).inserted)
            XCTAssertEqual(mapping.fileOffset(stripe: stripe, objectOffset: objectOffset), offset)
        }
    }

    func testObjectSizesOfAFileSizeAndTheSizeMergedBack() throws {
        let mapping = try LOVStripeMapping(stripeSize: mib, stripeCount: 3)
        // 4.5 MiB: units 0..3 full, unit 4 half. Stripe 0 holds units 0 and 3, stripe 1 units 1
        // and 4 (half), stripe 2 unit 2.
        let size = 4 * mib + mib / 2
        XCTAssertEqual(mapping.objectSize(forFileSize: size, stripe: 0), 2 * mib)
        XCTAssertEqual(mapping.objectSize(forFileSize: size, stripe: 1), mib + mib / 2)
        XCTAssertEqual(mapping.objectSize(forFileSize: size, stripe: 2), mib)
        let merged = (0..<3).map { mapping.fileSize(stripe: $0, objectSize: mapping.objectSize(forFileSize: size, stripe: $0)) }.max()
        XCTAssertEqual(merged, size)
        XCTAssertEqual(mapping.fileSize(stripe: 2, objectSize: 0), 0)
        // Sizes beyond 4 GiB round-trip the same way.
        let big: UInt64 = (6 << 30) + 3
        let back = (0..<3).map { mapping.fileSize(stripe: $0, objectSize: mapping.objectSize(forFileSize: big, stripe: $0)) }.max()
        XCTAssertEqual(back, big)
        XCTAssertEqual((0..<3).map { mapping.objectSize(forFileSize: big, stripe: $0) }.reduce(0, +), big)
    }

    func testObjectRangesOfAFileRangeAreOneRangePerStripe() throws {
        let mapping = try LOVStripeMapping(stripeSize: mib, stripeCount: 3)
        // File bytes [0.5 MiB, 7.25 MiB): units 0..7; stripe 0 holds units 0, 3, 6, stripe 1
        // units 1, 4, 7, stripe 2 units 2, 5.
        let ranges = mapping.objectRanges(start: mib / 2, end: 7 * mib + mib / 4)
        XCTAssertEqual(ranges.map(\.stripe), [0, 1, 2])
        XCTAssertEqual(ranges.map(\.start), [mib / 2, 0, 0])
        XCTAssertEqual(ranges.map(\.end), [3 * mib, 2 * mib + mib / 4, 2 * mib])
        // Every byte of the file range is in exactly one object range, and nothing else is.
        let pieces = try mapping.pieces(offset: mib / 2, length: Int(7 * mib - mib / 4))
        for stripe in 0..<3 {
            let mine = pieces.filter { $0.stripe == stripe }
            XCTAssertEqual(mine.first?.objectOffset, ranges[stripe].start)
            XCTAssertEqual(mine.last?.objectEnd, ranges[stripe].end)
            XCTAssertEqual(mine.reduce(0) { $0 + UInt64($1.length) }, ranges[stripe].end - ranges[stripe].start)
        }
        XCTAssertEqual(mapping.objectRanges(start: 0, end: mib / 2).map(\.stripe), [0], "within one unit")
        XCTAssertTrue(mapping.objectRanges(start: 5, end: 5).isEmpty)
    }

    func testLayoutWithoutObjectsOrStripesHasNoMapping() {
        XCTAssertThrowsError(try LOVStripeMapping(layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 2)))
        XCTAssertThrowsError(try LOVStripeMapping(stripeSize: 0, stripeCount: 1))
        XCTAssertThrowsError(try LOVStripeMapping(stripeSize: mib, stripeCount: 0))
        XCTAssertThrowsError(try LOVStripeMapping(stripeSize: mib, stripeCount: 1).pieces(offset: .max - 2, length: 10))
    }

    func testLayoutObjectsGiveTheStripeCount() throws {
        var layout = LustreLayout(stripeSize: 1 << 20, stripeCount: 2)
        layout.objects = [LayoutObject(ostIndex: 1, id: OSTObjectID(objectID: 5)),
                          LayoutObject(ostIndex: 0, id: OSTObjectID(objectID: 9))]
        let mapping = try LOVStripeMapping(layout: layout)
        XCTAssertEqual(mapping.stripeCount, 2)
        XCTAssertEqual(mapping.stripeSize, mib)
    }
}

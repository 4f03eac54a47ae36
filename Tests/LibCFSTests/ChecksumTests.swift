import XCTest
@testable import LibCFS

final class ChecksumTests: XCTestCase {
    // RFC 3720 appendix B.4 and the common "123456789" check values.
    func testCRC32CMatchesRFC3720Vectors() {
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }), 0x113F_DB5C)
    }

    func testCRC32CCheckValue() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
    }

    func testCRC32CheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    }

    func testAdler32OfWikipedia() {
        XCTAssertEqual(Adler32.checksum(Array("Wikipedia".utf8)), 0x11E6_0398)
    }

    /// A running checksum fed in uneven pieces (a bulk gathered from several buffers) equals the
    /// checksum of the whole, for every type.
    func testRunningChecksumOverPiecesEqualsTheWhole() {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 5) }
        bytes.withUnsafeBytes { all in
            for type in ChecksumType.allCases {
                var running = ChecksumType.Running(type)
                var at = 0
                for size in [0, 1, 3, 4096, 0, 17, 5000] where at < all.count {
                    let end = min(all.count, at + size)
                    running.update(UnsafeRawBufferPointer(rebasing: all[at..<end]))
                    at = end
                }
                running.update(UnsafeRawBufferPointer(rebasing: all[at...]))
                XCTAssertEqual(running.value, type.checksum(all), "\(type)")
            }
        }
    }

    func testEmptyInputGivesTheInitialValues() {
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32.checksum([UInt8]()), 0)
        XCTAssertEqual(Adler32.checksum([UInt8]()), 1)
    }

    func testAdler32FoldsLongRunsOfHighBytes() {
        // 0xFF bytes overflow 32-bit sums fastest; zlib's value for 100000 of them.
        XCTAssertEqual(Adler32.checksum([UInt8](repeating: 0xFF, count: 100_000)), 0x149A_302C)
    }

    func testHardwareAndTablePathsAgreeOnRandomData() {
        var rng = SystemRandomNumberGenerator()
        let pool = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        pool.withUnsafeBytes { all in
            for _ in 0..<300 {
                let offset = Int.random(in: 0..<64, using: &rng)
                let length = Bool.random(using: &rng) ? Int.random(in: 0..<1000, using: &rng)
                                                      : Int.random(in: 0..<(all.count - 64), using: &rng)
                let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                let seed = UInt32.random(in: 0...UInt32.max, using: &rng)
                XCTAssertEqual(CRC32C.hardwareAdvance(seed, slice), CRC32C.tableAdvance(seed, slice),
                               "offset \(offset) length \(length)")
            }
        }
    }

    func testIncrementalUpdateEqualsOneShot() {
        var rng = SystemRandomNumberGenerator()
        let data = (0..<100_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var crc32c = CRC32C(), crc32 = CRC32(), adler = Adler32()
        var start = 0
        while start < data.count {
            let end = min(data.count, start + Int.random(in: 0...30_000, using: &rng))
            crc32c.update(data[start..<end])
            crc32.update(data[start..<end])
            adler.update(data[start..<end])
            start = end
        }
        XCTAssertEqual(crc32c.value, CRC32C.checksum(data))
        XCTAssertEqual(crc32.value, CRC32.checksum(data))
        XCTAssertEqual(adler.value, Adler32.checksum(data))
    }

    func testChecksumTypeOverBuffersEqualsChecksumOfConcatenation() {
        let a = Array("hello, ".utf8), b = Array("lustre".utf8)
        a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                XCTAssertEqual(ChecksumType.crc32c.checksum([pa, pb]), CRC32C.checksum(a + b))
                XCTAssertEqual(ChecksumType.crc32.checksum([pa, pb]), CRC32.checksum(a + b))
                XCTAssertEqual(ChecksumType.adler.checksum([pa, pb]), Adler32.checksum(a + b))
            }
        }
    }

    func testChecksumTypeDefaultIsCRC32C() {
        XCTAssertEqual(ChecksumType.default, .crc32c)
    }

    func testChecksumTypeFormatsChoicesWithActiveBracketed() {
        XCTAssertEqual(ChecksumType.formatChoices(active: .crc32c), "crc32 adler [crc32c]")
        XCTAssertEqual(ChecksumType.formatChoices(active: .crc32), "[crc32] adler crc32c")
    }

    func testChecksumTypeParsesNamesAndRejectsOthers() throws {
        XCTAssertEqual(try ChecksumType.parse("adler\n"), .adler)
        XCTAssertEqual(ChecksumType(name: "crc32c"), .crc32c)
        XCTAssertThrowsError(try ChecksumType.parse("md5")) { error in
            let e = error as! LustreError
            XCTAssertEqual(e.errno, EINVAL)
            XCTAssertTrue(e.context.contains("md5"))
        }
    }

    func testChecksumTypeRawValuesAreLustreWireBits() {
        XCTAssertEqual(ChecksumType.crc32.rawValue, 0x01)
        XCTAssertEqual(ChecksumType.adler.rawValue, 0x02)
        XCTAssertEqual(ChecksumType.crc32c.rawValue, 0x04)
    }

    func testCRC32CThroughputIsReported() {
        let size = 64 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xA5)
        let bytes = UnsafeRawBufferPointer(buffer)
        _ = CRC32C.checksum(bytes)          // warm up pages and caches
        var best = Double.infinity
        for _ in 0..<3 {
            let start = MonotonicClock.nanoseconds()
            _ = CRC32C.checksum(bytes)
            best = min(best, Double(MonotonicClock.nanoseconds() - start) / 1e9)
        }
        let path = CRC32C.isHardwareAccelerated ? "hardware" : "table"
        print("CRC32C \(path) throughput: \(Int(Double(size) / best / 1e6)) MB/s over 64 MiB")
    }
}

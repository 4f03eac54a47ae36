#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import NIOCore
import Testing
@testable import ObdClass

@Suite("LustreLayout")
struct LustreLayoutTests {
    @Test("a file's layout round-trips with its objects, in Lustre's 32 + 24 * count bytes")
    func instantiatedRoundTrip() throws {
        var layout = LustreLayout(stripeSize: 1 << 20, stripeCount: 2, stripeOffset: 1, objects: [
            LayoutObject(ostIndex: 1, id: OSTObjectID(objectID: 34)),
            LayoutObject(ostIndex: 0, id: OSTObjectID(objectID: 35)),
        ])
        layout.fid = LustreFID(sequence: 0x2_0000_0400, objectID: 7)
        layout.layoutGeneration = 3
        var buffer = layout.encoded()
        #expect(buffer.readableBytes == LustreLayout.headerSize + 2 * LustreLayout.objectSize)
        #expect(buffer.getInteger(at: 0, endianness: .little, as: UInt32.self) == 0x0BD1_0BD0)
        let decoded = try LustreLayout(decoding: &buffer)
        #expect(decoded == layout)
        #expect(decoded.isInstantiated)
    }

    @Test("a request or directory default keeps its stripe offset, -1 values included")
    func settingsRoundTrip() throws {
        let layout = LustreLayout(stripeSize: 4 << 20, stripeCount: LustreLayout.stripeCountAll)
        var buffer = layout.encoded()
        let decoded = try LustreLayout(decoding: &buffer)
        #expect(decoded == layout)
        #expect(decoded.stripeCountValue == -1)
        #expect(decoded.stripeOffsetValue == -1)
        #expect(!decoded.isInstantiated)
    }

    @Test("stripe sizes that are not multiples of 64 KiB and counts above 2000 are refused")
    func validation() throws {
        try LustreLayout(stripeSize: 64 << 10, stripeCount: 1).validateSettings()
        try LustreLayout(stripeSize: 0, stripeCount: 0).validateSettings()
        let badSize = #expect(throws: LustreError.self) {
            try LustreLayout(stripeSize: 1000, stripeCount: 1).validateSettings()
        }
        #expect(badSize?.errno == EINVAL)
        let badCount = #expect(throws: LustreError.self) {
            try LustreLayout(stripeSize: 1 << 20, stripeCount: 2001).validateSettings()
        }
        #expect(badCount?.errno == EINVAL)
    }

    @Test("bad magic, truncation, ragged lengths and a count that disagrees are errors, not traps")
    func malformed() {
        var good = LustreLayout(stripeSize: 1 << 20, stripeCount: 1, objects: [
            LayoutObject(ostIndex: 0, id: OSTObjectID(objectID: 1)),
        ]).encoded()
        var badMagic = good
        badMagic.setInteger(UInt32(0xdead_beef), at: 0, endianness: .little)
        #expect(throws: LustreError.self) { try LustreLayout(decoding: &badMagic) }
        var truncated = good.getSlice(at: 0, length: 20)!
        #expect(throws: LustreError.self) { try LustreLayout(decoding: &truncated) }
        var ragged = good.getSlice(at: 0, length: good.readableBytes - 1)!
        #expect(throws: LustreError.self) { try LustreLayout(decoding: &ragged) }
        good.setInteger(UInt16(5), at: 28, endianness: .little)
        #expect(throws: LustreError.self) { try LustreLayout(decoding: &good) }
    }

    @Test("random bytes never trap the decoder, and what decodes round-trips")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...200, using: &generator)
            var buffer = ByteBuffer(bytes: (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            if length >= 4, Bool.random(using: &generator) {
                buffer.setInteger(LustreLayout.magicV1, at: 0, endianness: .little)
            }
            guard let layout = try? LustreLayout(decoding: &buffer) else { continue }
            // Whatever decodes holds one object per 24 bytes after the header and round-trips.
            #expect(layout.objects.count == (length - LustreLayout.headerSize) / LustreLayout.objectSize)
            var again = layout.encoded()
            #expect((try? LustreLayout(decoding: &again)) == layout)
        }
    }
}

@Suite("MDTAttributes and MDTCredentials")
struct MDTAttributesTests {
    @Test("attributes round-trip in wireSize bytes")
    func attributesRoundTrip() throws {
        var attributes = MDTAttributes()
        attributes.fid = LustreFID(sequence: 0x2_0000_0401, objectID: 9, version: 0)
        attributes.mode = 0o100644
        attributes.nlink = 2
        attributes.uid = 1000
        attributes.gid = 100
        attributes.size = 5 << 30
        attributes.blocks = 123
        attributes.mtime = MDTTime(seconds: 1_700_000_000, nanoseconds: 999_999_999)
        attributes.ctime = MDTTime(seconds: -1, nanoseconds: 0)
        var buffer = ByteBuffer()
        attributes.encode(into: &buffer)
        #expect(buffer.readableBytes == MDTAttributes.wireSize)
        #expect(try MDTAttributes(decoding: &buffer) == attributes)
        #expect(attributes.isRegular && !attributes.isDirectory && !attributes.isSymlink)
    }

    @Test("a timestamp with a billion nanoseconds or more is refused")
    func badNanoseconds() {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int64(0), endianness: .little)
        buffer.writeInteger(UInt32(1_000_000_000), endianness: .little)
        #expect(throws: LustreError.self) { try MDTTime(decoding: &buffer) }
    }

    @Test("credentials round-trip; too many groups and truncated lists are refused")
    func credentials() throws {
        let credentials = MDTCredentials(uid: 1000, gid: 1000, groups: [4, 27, 100])
        var buffer = ByteBuffer()
        credentials.encode(into: &buffer)
        #expect(try MDTCredentials(decoding: &buffer) == credentials)
        #expect(credentials.isMember(of: 27) && credentials.isMember(of: 1000) && !credentials.isMember(of: 0))

        var huge = ByteBuffer()
        huge.writeInteger(UInt32(0), endianness: .little)
        huge.writeInteger(UInt32(0), endianness: .little)
        huge.writeInteger(UInt32.max, endianness: .little)
        #expect(throws: LustreError.self) { try MDTCredentials(decoding: &huge) }

        var short = ByteBuffer()
        MDTCredentials(uid: 1, gid: 1, groups: [1, 2]).encode(into: &short)
        short.moveWriterIndex(to: short.writerIndex - 2)
        #expect(throws: LustreError.self) { try MDTCredentials(decoding: &short) }
    }
}

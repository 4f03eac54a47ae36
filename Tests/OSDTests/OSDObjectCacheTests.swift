import NIOCore
import ObdClass
import Testing
@testable import OSD

@Suite("OSD object cache")
struct OSDObjectCacheTests {
    @Test("more objects than the cache holds still read back correctly")
    func evictionKeepsDataCorrect() async throws {
        var options = OSDDevice.Options()
        options.objectCacheSize = 4
        try await withOSD(options) { osd, _ in
            for oid in UInt64(1)...12 {
                let id = OSTObjectID(sequence: 0, objectID: oid)
                _ = try await osd.create(id, attributes: ObdAttributes())
                _ = try await osd.write(id, pieces: [(offset: 0, data: ByteBuffer(bytes: pattern(5000, seed: Int(oid))))])
            }
            #expect(osd.cache.count <= 4)
            for oid in UInt64(1)...12 {
                let id = OSTObjectID(sequence: 0, objectID: oid)
                #expect(try await osd.read(id, offset: 0, length: 5000).bytes == pattern(5000, seed: Int(oid)))
            }
        }
    }

    @Test("a destroyed and recreated object does not see the old object's data")
    func recreateIsFresh() async throws {
        try await withOSD { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            _ = try await osd.write(object1, pieces: [(offset: 0, data: ByteBuffer(bytes: pattern(100)))])
            _ = try await osd.destroy(object1)
            _ = try await osd.create(object1, attributes: ObdAttributes())
            #expect(try await osd.read(object1, offset: 0, length: 100).readableBytes == 0)
        }
    }
}

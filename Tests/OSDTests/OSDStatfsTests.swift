import Testing
@testable import OSD

@Suite("OSD statfs")
struct OSDStatfsTests {
    @Test("statfs reports a sane ext4 volume")
    func statfsIsSane() async throws {
        try await withOSD { osd, _ in
            let statfs = try osd.statfs()
            #expect(statfs.blockSize >= 512 && statfs.blockSize & (statfs.blockSize - 1) == 0)
            #expect(statfs.blocks > 0)
            #expect(statfs.blocksFree <= statfs.blocks)
            #expect(statfs.blocksAvailable <= statfs.blocksFree)
            #expect(statfs.files > 0 && statfs.filesFree <= statfs.files)
            #expect(statfs.nameLength == 255)
        }
    }
}

import Foundation
import Glibc
import LibCFS
import ObdClass
import Testing
@testable import OSD

/// `LAST_ID`: object ids handed out by precreate are never handed out again.
@Suite("OSD LAST_ID")
struct OSDLastIDTests {
    @Test("precreate makes empty objects after LAST_ID and persists it")
    func precreateMakesObjects() async throws {
        try await withOSD { osd, scratch in
            #expect(osd.lastID(sequence: 0) == 0)
            let range = try await osd.precreate(sequence: 0, count: 40)
            #expect(range == 1...40)
            #expect(osd.lastID(sequence: 0) == 40)
            for oid in range { #expect(scratch.exists(OSTObjectID(sequence: 0, objectID: oid).path)) }
            #expect(try await osd.getattr(OSTObjectID(sequence: 0, objectID: 33)).size == 0)
            let file = try Data(contentsOf: URL(fileURLWithPath: "\(scratch.path)/O/0/LAST_ID"))
            #expect(Array(file) == [40, 0, 0, 0, 0, 0, 0, 0])
        }
    }

    @Test("LAST_ID survives a reopen and precreate continues after it")
    func lastIDPersistsAcrossReopen() async throws {
        let scratch = try ScratchDirectory()
        try await withOSD(in: scratch) { osd, _ in
            _ = try await osd.precreate(sequence: 0, count: 10)
            _ = try await osd.precreate(sequence: 0x1_0000_0000, count: 3)
        }
        try await withOSD(in: scratch) { osd, _ in
            #expect(osd.lastID(sequence: 0) == 10)
            #expect(osd.lastID(sequence: 0x1_0000_0000) == 3)
            let next = try await osd.precreate(sequence: 0, count: 5)
            #expect(next == 11...15)
        }
    }

    @Test("without the LAST_ID file, the objects present keep ids from being reused")
    func scanPreventsReuseWithoutLastIDFile() async throws {
        let scratch = try ScratchDirectory()
        try await withOSD(in: scratch) { osd, _ in
            _ = try await osd.precreate(sequence: 0, count: 37)
        }
        #expect(unlink("\(scratch.path)/O/0/LAST_ID") == 0)
        try await withOSD(in: scratch) { osd, _ in
            #expect(osd.lastID(sequence: 0) == 37)
            let next = try await osd.precreate(sequence: 0, count: 1)
            #expect(next == 38...38)
        }
    }

    @Test("an explicit create above LAST_ID moves it, so precreate skips that id")
    func createAboveLastIDMovesIt() async throws {
        let scratch = try ScratchDirectory()
        try await withOSD(in: scratch) { osd, _ in
            _ = try await osd.create(OSTObjectID(sequence: 0, objectID: 100), attributes: ObdAttributes())
            #expect(osd.lastID(sequence: 0) == 100)
            let next = try await osd.precreate(sequence: 0, count: 1)
            #expect(next == 101...101)
        }
    }

    @Test("concurrent precreates get disjoint ranges")
    func concurrentPrecreatesAreDisjoint() async throws {
        try await withOSD { osd, _ in
            let ranges = try await withThrowingTaskGroup(of: ClosedRange<UInt64>.self) { group in
                for _ in 0..<8 { group.addTask { try await osd.precreate(sequence: 0, count: 16) } }
                return try await group.reduce(into: [ClosedRange<UInt64>]()) { $0.append($1) }
            }
            let ids = ranges.flatMap { Array($0) }
            #expect(Set(ids).count == 128)
            #expect(ids.min() == 1 && ids.max() == 128)
            #expect(osd.lastID(sequence: 0) == 128)
        }
    }

    @Test("precreate refuses a count of 0")
    func precreateRefusesZero() async throws {
        try await withOSD { osd, _ in
            await expectErrno(EINVAL) { _ = try await osd.precreate(sequence: 0, count: 0) }
        }
    }
}

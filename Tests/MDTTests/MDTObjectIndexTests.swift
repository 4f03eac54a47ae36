#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import ObdClass
import Testing
@testable import MDT

@Suite("MDT object index tables")
struct MDTObjectIndexTests {
    private func withRoot<T>(_ scratch: MDTScratch, _ body: (Int32) throws -> T) rethrows -> T {
        let fd = open(scratch.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        precondition(fd >= 0)
        defer { close(fd) }
        return try body(fd)
    }

    @Test("records survive reopening; a removed record, another version or an unknown sequence reads as none")
    func records() throws {
        let scratch = MDTScratch()
        let a = LustreFID(sequence: 0x200000400, objectID: 1)
        let b = LustreFID(sequence: 0x200000400, objectID: 0x1FFFF, version: 3)
        let c = LustreFID(sequence: 0x200000401, objectID: 7)
        try withRoot(scratch) { rootFD in
            let table = try MDTObjectIndexTable(rootFD: rootFD)
            try table.insert(a, handle: [1, 0, 0, 0, 10, 11, 12, 13, 14, 15, 16, 17])
            try table.insert(b, handle: [1, 0, 0, 0, 20, 21, 22, 23, 24, 25, 26, 27])
            try table.insert(c, handle: [1, 0, 0, 0, 30, 31, 32, 33, 34, 35, 36, 37])
            try table.remove(c)
            #expect(throws: LustreError.self) { try table.insert(c, handle: [UInt8](repeating: 1, count: 60)) }
        }
        try withRoot(scratch) { rootFD in
            let table = try MDTObjectIndexTable(rootFD: rootFD)
            #expect(try table.handle(of: a) == [1, 0, 0, 0, 10, 11, 12, 13, 14, 15, 16, 17])
            #expect(try table.handle(of: b) == [1, 0, 0, 0, 20, 21, 22, 23, 24, 25, 26, 27])
            #expect(try table.handle(of: LustreFID(sequence: b.sequence, objectID: b.objectID)) == nil)
            #expect(try table.handle(of: c) == nil)
            #expect(try table.handle(of: LustreFID(sequence: 0x200000402, objectID: 1)) == nil)
            #expect(try table.handle(of: LustreFID(sequence: a.sequence, objectID: 2)) == nil)
            #expect(try table.allRecords().sorted() == [a, b])
        }
    }

    @Test("a target whose OI is in the first format (symlink buckets) is converted at start")
    func migration() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let d = try await mdt.mkdir(root, "d")
        var files: [LustreFID] = []
        for i in 0..<40 { files.append(try await mdt.mkfile(d.fid, "f\(i)").fid) }
        await mdt.close()
        // Rewrite the index as the first format kept it: oi/<oid % 256>/<FID> -> handle in hex.
        try withRoot(scratch) { rootFD in
            let table = try MDTObjectIndexTable(rootFD: rootFD)
            let fids = try table.allRecords()
            #expect(fids.count == files.count + 2)
            for fid in fids {
                let handle = try #require(try table.handle(of: fid))
                let hex = handle.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
                let bucket = MDTObjectIndexTable.bucketName(Int(fid.objectID % 256))
                _ = mkdirat(rootFD, "oi/" + bucket, 0o700)
                #expect(symlinkat(hex, rootFD, "oi/\(bucket)/\(MDTObjectIndex.recordName(fid))") == 0)
            }
            for bucket in 0..<256 where faccessat(rootFD, "oi/" + MDTObjectIndexTable.bucketName(bucket), F_OK, 0) != 0 {
                #expect(mkdirat(rootFD, "oi/" + MDTObjectIndexTable.bucketName(bucket), 0o700) == 0)
            }
            var sequences = Set(fids.map(\.sequence))
            for sequence in sequences.sorted() {
                #expect(unlinkat(rootFD, "oi/" + MDTObjectIndexTable.tableName(sequence), 0) == 0)
            }
            sequences.removeAll()
        }
        #expect(try MDTChecker.check(root: scratch.path).problems.contains { $0.contains("first OI format") })
        mdt = try await scratch.open()
        for (i, fid) in files.enumerated() {
            #expect(try await mdt.getattr(fid).fid == fid, "f\(i)")
        }
        await mdt.close()
        #expect(access(scratch.path + "/oi/00", F_OK) != 0)
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("OI records lost with the page cache come back: by the create's replay, or by the repair after it")
    func lostRecords() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let before = try await mdt.mkfile(root, "before")
        _ = try await mdt.sync()
        try await mdt.checkpoint()
        let logged = try await mdt.mkfile(root, "logged")
        let moved = try await mdt.mkfile(root, "moved")
        _ = try await mdt.rename(from: root, name: "moved", to: root, newName: "moved2", credentials: .root)
        _ = try await mdt.sync()
        mdt.simulateCrash()
        // A power loss that kept the names (journal) but not the table data written after the
        // checkpoint; `before` lost its record too, though its create is no longer in the log.
        try withRoot(scratch) { rootFD in
            let table = try MDTObjectIndexTable(rootFD: rootFD)
            for fid in [before.fid, logged.fid, moved.fid] { try table.remove(fid) }
        }
        mdt = try await scratch.open()
        for fid in [before.fid, logged.fid, moved.fid] { #expect(try await mdt.getattr(fid).fid == fid) }
        #expect(try await mdt.names(root).sorted() == ["before", "logged", "moved2"])
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("the allocator's replay check: a file uses exactly the objects its layout lists, until it is unlinked")
    func usesObjects() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let file = try await mdt.mkfile(root, "f")
        let objects = try #require(try mdt.tree.layout(of: try mdt.inode(file.fid))?.objects)
        #expect(!objects.isEmpty)
        for object in objects { #expect(mdt.uses(file.fid, object)) }
        let other = LayoutObject(ostIndex: objects[0].ostIndex, id: OSTObjectID(objectID: objects[0].id.objectID + 1000))
        #expect(!mdt.uses(file.fid, other))
        #expect(!mdt.uses(root, objects[0]))
        _ = try await mdt.unlink(parent: root, name: "f", credentials: .root)
        for object in objects { #expect(!mdt.uses(file.fid, object)) }
        await mdt.close()
    }
}

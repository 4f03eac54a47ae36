#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import ObdClass
import Testing
@testable import MDT

@Suite("MDT readdir")
struct MDTReaddirTests {
    @Test("100k entries list completely by cookie while others are added and removed")
    func largeDirectoryWithConcurrentChanges() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let dir = try await mdt.mkdir(mdt.rootFID, "big")
        let count = 100_000
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<2 {
                group.addTask {
                    for i in stride(from: part, to: count, by: 2) {
                        _ = try await mdt.create(parent: dir.fid, name: "f\(i)", kind: .node(rdev: 0),
                                                 mode: UInt32(S_IFIFO) | 0o644, credentials: .root, layout: nil,
                                                 exclusive: true)
                    }
                }
            }
            try await group.waitForAll()
        }
        let removed = Set(stride(from: 0, to: count, by: 7).map { "f\($0)" })
        var seen: [String: Int] = [:]
        var cookie: UInt64 = 0
        var pages = 0
        let changer = Task {
            var added = 0
            for name in removed.sorted() {
                _ = try await mdt.unlink(parent: dir.fid, name: name, credentials: .root)
                _ = try await mdt.create(parent: dir.fid, name: "new\(added)", kind: .node(rdev: 0),
                                         mode: UInt32(S_IFIFO) | 0o644, credentials: .root, layout: nil, exclusive: true)
                added += 1
            }
            return added
        }
        while true {
            let page = try await mdt.readdir(dir.fid, cookie: cookie, maxEntries: 997, credentials: .root)
            for entry in page.entries { seen[entry.name, default: 0] += 1 }
            pages += 1
            if let last = page.entries.last { cookie = last.cookie }
            if page.end { break }
        }
        let added = try await changer.value
        #expect(pages > 100)
        #expect(seen.values.allSatisfy { $0 == 1 }, "no entry twice")
        for i in 0..<count where !removed.contains("f\(i)") {
            if seen["f\(i)"] != 1 { Issue.record("f\(i) missing"); break }
        }
        #expect(seen.keys.allSatisfy { $0.hasPrefix("new") || $0.hasPrefix("f") })
        let final = try await mdt.names(dir.fid, pageSize: 5000)
        #expect(final.count == count - removed.count + added && Set(final).count == final.count)
        await mdt.close()
    }

    @Test("a page ends where asked, resumes after its last cookie, and reports the end")
    func paging() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let dir = try await mdt.mkdir(mdt.rootFID, "d")
        for i in 0..<10 { try await mdt.mkfile(dir.fid, "n\(i)") }
        let sub = try await mdt.mkdir(dir.fid, "sub")
        let first = try await mdt.readdir(dir.fid, cookie: 0, maxEntries: 4, credentials: .root)
        #expect(first.entries.count == 4 && !first.end)
        let rest = try await mdt.readdir(dir.fid, cookie: first.entries.last!.cookie, maxEntries: 100, credentials: .root)
        #expect(rest.end && rest.entries.count == 7)
        let all = first.entries + rest.entries
        #expect(Set(all.map(\.name)) == Set((0..<10).map { "n\($0)" } + ["sub"]))
        #expect(all.first { $0.name == "sub" }?.fid == sub.fid && all.first { $0.name == "sub" }?.type == 4)
        #expect(all.first { $0.name == "n0" }?.type == 8)
        let empty = try await mdt.readdir(sub.fid, cookie: 0, maxEntries: 10, credentials: .root)
        #expect(empty.entries.isEmpty && empty.end)
        await mdt.close()
    }
}

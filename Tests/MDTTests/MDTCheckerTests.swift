#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import ObdClass
import Testing
@testable import MDT

@Suite("MDT checker")
struct MDTCheckerTests {
    @Test("a target after ordinary operations is clean, with every file's FID and layout")
    func clean() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let d = try await mdt.mkdir(mdt.rootFID, "d")
        let f = try await mdt.mkfile(d.fid, "f")
        _ = try await mdt.link(f.fid, parent: mdt.rootFID, name: "g", credentials: .root)
        _ = try await mdt.create(parent: d.fid, name: "l", kind: .symlink(target: "f"), mode: 0, credentials: .root,
                                 layout: nil, exclusive: true)
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(report.files[f.fid] != nil && report.layouts[f.fid]?.objects.count == 1)
    }

    @Test("a missing FID, a stale or missing OI record and a wrong link xattr are reported")
    func problems() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let a = try await mdt.mkfile(mdt.rootFID, "a")
        let b = try await mdt.mkfile(mdt.rootFID, "b")
        let d = try await mdt.mkdir(mdt.rootFID, "d")
        await mdt.close()
        let root = scratch.path
        #expect(MDTSyscalls.removexattr(root + "/ROOT/a", mdt.tree.lmaName) == 0)
        let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try MDTObjectIndexTable(rootFD: rootFD).remove(b.fid)
        close(rootFD)
        #expect(MDTSyscalls.setxattr(root + "/ROOT/d", mdt.tree.linkName, MDTLinkXattr.encode([])) == 0)
        #expect(mkdir(root + "/ROOT/raw", 0o755) == 0)
        let report = try MDTChecker.check(root: root)
        let text = report.problems.joined(separator: "\n")
        #expect(text.contains("a: no FID"))
        #expect(text.contains("b: OI record of \(b.fid)"))
        #expect(text.contains("d: link xattr"))
        #expect(text.contains("raw: no FID"))
        #expect(text.contains("OI record \(a.fid)"), "the record of a now names an inode without a reachable FID")
        _ = d
    }
}

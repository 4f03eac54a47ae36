#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import NIOCore
import ObdClass
import Testing
@testable import MDT

@Suite("MDT layouts")
struct MDTLayoutTests {
    @Test("a file takes the requested settings, else its directory's default, else the root's, else the options")
    func inheritance() async throws {
        let scratch = MDTScratch(ostCount: 4)
        var options = MDTDevice.Options()
        options.defaultLayout = LustreLayout(stripeSize: 1 << 20, stripeCount: 1)
        let mdt = try await scratch.open(options)
        let root = mdt.rootFID
        let plain = try await mdt.create(parent: root, name: "plain", kind: .file, mode: 0o644, credentials: .root,
                                         layout: nil, exclusive: true).layout
        #expect(plain?.stripeSize == 1 << 20 && plain?.objects.count == 1)
        _ = try await mdt.setLayout(root, LustreLayout(stripeSize: 2 << 20, stripeCount: 2), credentials: .root)
        let dir = try await mdt.mkdir(root, "d")
        let fromRoot = try await mdt.create(parent: dir.fid, name: "a", kind: .file, mode: 0o644, credentials: .root,
                                            layout: nil, exclusive: true).layout
        #expect(fromRoot?.stripeSize == 2 << 20 && fromRoot?.objects.count == 2)
        _ = try await mdt.setLayout(dir.fid, LustreLayout(stripeCount: 3, stripeOffset: 1), credentials: .root)
        #expect(try await mdt.layout(of: dir.fid) == LustreLayout(stripeCount: 3, stripeOffset: 1))
        let fromDir = try await mdt.create(parent: dir.fid, name: "b", kind: .file, mode: 0o644, credentials: .root,
                                           layout: nil, exclusive: true).layout
        #expect(fromDir?.stripeSize == 2 << 20 && fromDir?.objects.count == 3 && fromDir?.objects.first?.ostIndex == 1)
        let requested = try await mdt.create(parent: dir.fid, name: "c", kind: .file, mode: 0o644, credentials: .root,
                                             layout: LustreLayout(stripeSize: 4 << 20, stripeCount: 1), exclusive: true).layout
        #expect(requested?.stripeSize == 4 << 20 && requested?.objects.count == 1 && requested?.stripeOffset == 1)
        let all = try await mdt.create(parent: root, name: "all", kind: .file, mode: 0o644, credentials: .root,
                                       layout: LustreLayout(stripeCount: LustreLayout.stripeCountAll), exclusive: true).layout
        #expect(all?.objects.count == 4)
        let clamped = try await mdt.create(parent: root, name: "wide", kind: .file, mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeCount: 40), exclusive: true).layout
        #expect(clamped?.objects.count == 4)
        let sub = try await mdt.create(parent: root, name: "sub", kind: .directory, mode: 0o755, credentials: .root,
                                       layout: LustreLayout(stripeSize: 128 << 10), exclusive: true)
        #expect(sub.layout == LustreLayout(stripeSize: 128 << 10))
        let subFile = try await mdt.create(parent: sub.attributes.fid, name: "f", kind: .file, mode: 0o644,
                                           credentials: .root, layout: nil, exclusive: true).layout
        #expect(subFile?.stripeSize == 128 << 10 && subFile?.objects.count == 2)
        _ = try await mdt.setLayout(dir.fid, LustreLayout(), credentials: .root)
        #expect(try await mdt.layout(of: dir.fid) == nil)
        await mdt.close()
    }

    @Test("a regular file made by mknod has no objects until its first open for writing")
    func objectLessFile() async throws {
        let scratch = MDTScratch(ostCount: 2)
        let mdt = try await scratch.open()
        let made = try await mdt.create(parent: mdt.rootFID, name: "n", kind: .node(rdev: 0),
                                        mode: UInt32(S_IFREG) | 0o644, credentials: .root, layout: nil, exclusive: true)
        #expect(made.attributes.isRegular && made.layout == nil)
        // Mode type 0 is a regular file too (mknod(2)), and gets no objects either.
        let typeless = try await mdt.create(parent: mdt.rootFID, name: "t", kind: .node(rdev: 0),
                                            mode: 0o644, credentials: .root, layout: nil, exclusive: true)
        #expect(typeless.attributes.isRegular && typeless.layout == nil)
        #expect(scratch.allocator.calls.withLock { $0.allocated.isEmpty })
        let (_, readLayout, _) = try await mdt.open(made.attributes.fid, flags: O_RDONLY, credentials: .root, owner: 1)
        #expect(readLayout == nil)
        let (_, writeLayout, _) = try await mdt.open(made.attributes.fid, flags: O_WRONLY, credentials: .root, owner: 1)
        #expect(writeLayout?.objects.count == 1 && writeLayout?.fid == made.attributes.fid)
        #expect(try await mdt.layout(of: made.attributes.fid) == writeLayout)
        let other = try await mdt.create(parent: mdt.rootFID, name: "m", kind: .node(rdev: 0),
                                         mode: UInt32(S_IFREG) | 0o644, credentials: .root, layout: nil, exclusive: true)
        _ = try await mdt.setLayout(other.attributes.fid, LustreLayout(stripeCount: 2), credentials: .root)
        #expect(try await mdt.layout(of: other.attributes.fid)?.objects.count == 2)
        await mdt.closeAll(owner: 1)
        await mdt.close()
    }

    @Test("invalid settings are refused with EINVAL and a message saying why")
    func validation() async throws {
        let scratch = MDTScratch(ostCount: 2)
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        for bad in [LustreLayout(stripeSize: 1000), LustreLayout(stripeCount: 2001), LustreLayout(stripeOffset: 2)] {
            do {
                _ = try await mdt.create(parent: root, name: "x", kind: .file, mode: 0o644, credentials: .root,
                                         layout: bad, exclusive: true)
                Issue.record("\(bad) accepted")
            } catch {
                #expect(error.errno == EINVAL && !error.context.isEmpty)
            }
        }
        await expectErrno(EINVAL) { _ = try await mdt.setLayout(root, LustreLayout(stripeSize: 12345), credentials: .root) }
        await expectErrno(ENOENT) { _ = try await mdt.lookup(parent: root, name: "x", credentials: .root) }
        #expect(scratch.allocator.calls.withLock { $0.allocated.isEmpty })
        await mdt.close()
    }

    @Test("the layout reads as xattr lustre.lov; a file's layout is set once; directories' defaults by owner")
    func layoutXattr() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let file = try await mdt.create(parent: root, name: "f", kind: .file, mode: 0o644, credentials: .root,
                                        layout: nil, exclusive: true)
        var bytes = ByteBuffer(bytes: try await mdt.getxattr(file.attributes.fid, name: "lustre.lov", credentials: .root))
        #expect(try LustreLayout(decoding: &bytes) == file.layout)
        #expect(try await mdt.listxattr(file.attributes.fid, credentials: .root).contains("lustre.lov"))
        await expectErrno(EEXIST) { _ = try await mdt.setLayout(file.attributes.fid, LustreLayout(stripeCount: 2), credentials: .root) }
        let dir = try await mdt.mkdir(root, "d", as: user1)
        await expectErrno(ENODATA) { _ = try await mdt.getxattr(dir.fid, name: "lustre.lov", credentials: .root) }
        await expectErrno(EPERM) { _ = try await mdt.setLayout(dir.fid, LustreLayout(stripeCount: 2), credentials: user2) }
        let value = Array(LustreLayout(stripeCount: 2).encoded().readableBytesView)
        _ = try await mdt.setxattr(dir.fid, name: "lustre.lov", value: value, flags: 0, credentials: user1)
        #expect(try await mdt.getxattr(dir.fid, name: "lustre.lov", credentials: user1) == value)
        _ = try await mdt.removexattr(dir.fid, name: "lustre.lov", credentials: user1)
        #expect(try await mdt.layout(of: dir.fid) == nil)
        await mdt.close()
    }
}

import Dispatch
import Glibc
import LibCFS
import Testing
@testable import LustreCompat

/// A two-node filesystem in memory: the root directory and one read-only file.
private final class HelloFilesystem: FuseOperations {
    static let content = Array("hello, fuse\n".utf8)
    let fileNode: UInt64 = 2

    func attributes(_ node: UInt64) -> FuseAttributes? {
        var attributes = FuseAttributes()
        attributes.inode = node
        switch node {
        case 1: attributes.mode = S_IFDIR | 0o755; attributes.nlink = 2
        case fileNode: attributes.mode = S_IFREG | 0o444; attributes.nlink = 1; attributes.size = UInt64(Self.content.count)
        default: return nil
        }
        return attributes
    }

    func lookup(_ request: FuseRequest, parent: UInt64, name: String) {
        guard parent == 1, name == "hello", let attributes = attributes(fileNode) else { return request.reply(error: ENOENT) }
        Task { request.reply(entry: FuseEntry(nodeID: fileNode, attributes: attributes, attributeTimeout: 1, entryTimeout: 1)) }
    }

    func getattr(_ request: FuseRequest, node: UInt64, file: FuseFileInfo?) {
        guard let attributes = attributes(node) else { return request.reply(error: ENOENT) }
        request.reply(attributes: attributes, timeout: 1)
    }

    func open(_ request: FuseRequest, node: UInt64, file: FuseFileInfo) {
        guard node == fileNode else { return request.reply(error: EISDIR) }
        guard file.flags & O_ACCMODE == O_RDONLY else { return request.reply(error: EACCES) }
        request.reply(open: FuseOpenReply(handle: 42))
    }

    func read(_ request: FuseRequest, node: UInt64, size: Int, offset: UInt64, file: FuseFileInfo) {
        // Answered later, from a task: the loop thread has moved on.
        Task {
            guard file.handle == 42 else { return request.reply(error: EBADF) }
            let start = min(Int(offset), Self.content.count)
            let slice = Array(Self.content[start..<min(start + size, Self.content.count)])
            request.reply(bytes: slice)
        }
    }

    func readdir(_ request: FuseRequest, node: UInt64, size: Int, offset: UInt64, file: FuseFileInfo) {
        var buffer = FuseDirectoryBuffer(for: request, capacity: size)
        if offset < 1 { _ = buffer.add(name: "hello", inode: fileNode, mode: S_IFREG, nextOffset: 1) }
        buffer.reply()
    }
}

/// Runs blocking file syscalls off the Swift pool (the filesystem's tasks need it meanwhile).
private func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}

@Suite("FUSE low-level session")
struct FuseSessionTests {
    static var canMount: Bool { getuid() == 0 && access("/dev/fuse", R_OK | W_OK) == 0 }

    /// Whether the kernel can offer FUSE over io_uring here: it has the `enable_uring` parameter
    /// and it is on, or root turns it on (as mount.lustre does).
    static var canUseIOURing: Bool {
        let path = "/sys/module/fuse/parameters/enable_uring"
        guard canMount, access(path, F_OK) == 0 else { return false }
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var value: UInt8 = 0
        guard Glibc.read(fd, &value, 1) == 1 else { return false }
        return value == UInt8(ascii: "Y") || pwrite(fd, "Y", 1, 0) == 1
    }

    @Test("a filesystem mounts, answers lookup, readdir and read from tasks, and ends at unmount",
          .enabled(if: FuseSessionTests.canMount, "needs root and /dev/fuse"))
    func mountServeUnmount() async throws {
        try await mountServeUnmount(ioURing: false)
    }

    @Test("the same through FUSE over io_uring: every request after INIT comes through the rings",
          .enabled(if: FuseSessionTests.canUseIOURing, "needs root and a kernel with FUSE over io_uring (6.14)"))
    func mountServeUnmountOverIOURing() async throws {
        try await mountServeUnmount(ioURing: true)
    }

    func mountServeUnmount(ioURing: Bool) async throws {
        var template = Array("/tmp/fuse-session-test.XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw LustreError.fromErrno("mkdtemp") }
        let mountpoint = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { rmdir(mountpoint) }
        var wanted = FuseConnection()
        wanted.overIOURing = ioURing
        let session = try FuseLowLevelSession(arguments: ["fuse-test", "-o", "fsname=hello,subtype=hellofs"],
                                              operations: HelloFilesystem(), connection: wanted)
        try session.mount(at: mountpoint)
        let loop = Task { await session.run(maxThreads: 4) }
        let connection = try #require(await session.initialized())
        #expect(connection.maxWrite <= 1 << 20)
        #expect(!connection.writebackCache)
        #expect(connection.overIOURing == ioURing)
        if ioURing {
            // The queues register right after the INIT reply; requests use them once all have.
            for _ in 0..<100 where session.requestsThroughIOURing == 0 {
                _ = await blocking { var st = stat(); return stat(mountpoint, &st) }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        let throughRingsBefore = session.requestsThroughIOURing

        let names: [String] = await blocking {
            guard let dir = opendir(mountpoint) else { return [] }
            defer { closedir(dir) }
            var names: [String] = []
            while let entry = readdir(dir) {
                names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
            }
            return names
        }
        #expect(names == ["hello"])

        let read: [UInt8] = await blocking {
            let fd = open(mountpoint + "/hello", O_RDONLY)
            guard fd >= 0 else { return [] }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 100)
            let count = Glibc.read(fd, &buffer, buffer.count)
            return count > 0 ? Array(buffer.prefix(count)) : []
        }
        #expect(read == HelloFilesystem.content)

        let missing: Int32 = await blocking {
            var st = stat()
            return stat(mountpoint + "/nothing", &st) == 0 ? 0 : errno
        }
        #expect(missing == ENOENT)
        let writeRefused: Int32 = await blocking {
            let fd = open(mountpoint + "/hello", O_WRONLY)
            if fd >= 0 { close(fd); return 0 }
            return errno
        }
        #expect(writeRefused == EACCES)
        if ioURing {
            // readdir, lookup, open, read, release and the refused open at least.
            #expect(session.requestsThroughIOURing - throughRingsBefore >= 6)
        } else {
            #expect(session.requestsThroughIOURing == 0)
        }

        try session.unmount()
        #expect(await loop.value == 0)
        session.close()
        let stillMounted: Bool = await blocking {
            var st = stat(), parent = stat()
            return stat(mountpoint, &st) == 0 && stat(mountpoint + "/..", &parent) == 0 && st.st_dev != parent.st_dev
        }
        #expect(!stillMounted)
    }
}

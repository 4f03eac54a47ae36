import Foundation
import Glibc
import LibCFS
import Testing
@testable import LustreCompat

/// Runs a tool and returns its exit status and standard output.
private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    try ExternalCommand.output([tool] + arguments)
}

/// A fresh 64 MiB ext4 image, deleted afterwards.
private final class Ext4Image {
    let path = "/tmp/lustre-compat-ext4-\(getpid())-\(UUID().uuidString).img"
    init() throws {
        let made = try run("/sbin/mke2fs", ["-q", "-F", "-t", "ext4", path, "64M"])
        guard made.status == 0 else { throw LustreError(errno: EIO, "mke2fs exited \(made.status)") }
    }
    deinit { unlink(path) }
}

@Suite("Ext2Volume")
struct Ext2VolumeTests {
    /// What mkfs.lustre does: label + CONFIGS/mountdata, on an unmounted image.
    private let mountdata: [UInt8] = Array("mountdata: testfs-OST0000 svname, mgsnode=127.0.0.2@tcp".utf8)
        + (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }

    @Test("label and CONFIGS/mountdata read back after reopening")
    func labelAndMountdataReadBack() throws {
        let image = try Ext4Image()
        let volume = try Ext2Volume(path: image.path, writable: true)
        try volume.setLabel("testfs-OST0000")
        try volume.mkdir("CONFIGS")
        try volume.write("/CONFIGS/mountdata", mountdata)
        try volume.close()

        let reopened = try Ext2Volume(path: image.path)
        #expect(reopened.label == "testfs-OST0000")
        #expect(try reopened.exists("/CONFIGS/mountdata"))
        #expect(try reopened.read("/CONFIGS/mountdata") == mountdata)
        try reopened.close()
    }

    @Test("e2fsck finds the edited image clean and e2label shows the label")
    func editedImagePassesE2fsck() throws {
        let image = try Ext4Image()
        let volume = try Ext2Volume(path: image.path, writable: true)
        try volume.setLabel("testfs-MDT0000")
        try volume.mkdir("/CONFIGS/deeper/still")
        try volume.write("/CONFIGS/mountdata", mountdata)
        try volume.write("/CONFIGS/deeper/still/empty", [])
        try volume.close()

        let fsck = try run("/sbin/e2fsck", ["-fn", image.path])
        #expect(fsck.status == 0)
        let label = try run("/sbin/e2label", [image.path])
        #expect(label.output.trimmingCharacters(in: .whitespacesAndNewlines) == "testfs-MDT0000")
    }

    @Test("writing an existing file replaces its contents, shorter or longer")
    func rewriteReplacesContents() throws {
        let image = try Ext4Image()
        let volume = try Ext2Volume(path: image.path, writable: true)
        try volume.mkdir("CONFIGS")
        let long = [UInt8](repeating: 0xAB, count: 100_000)
        try volume.write("CONFIGS/mountdata", long)
        try volume.write("CONFIGS/mountdata", [1, 2, 3])
        #expect(try volume.read("CONFIGS/mountdata") == [1, 2, 3])
        try volume.close()
        #expect(try run("/sbin/e2fsck", ["-fn", image.path]).status == 0)
    }

    @Test("mkdir of an existing directory is a no-op, as mkdir -p")
    func mkdirIsIdempotent() throws {
        let image = try Ext4Image()
        let volume = try Ext2Volume(path: image.path, writable: true)
        try volume.mkdir("/a/b")
        try volume.mkdir("/a/b")
        #expect(try volume.exists("/a/b"))
        try volume.close()
    }

    @Test("reading a missing file fails with ENOENT")
    func missingFileIsENOENT() throws {
        let image = try Ext4Image()
        let volume = try Ext2Volume(path: image.path)
        #expect(try !volume.exists("/CONFIGS/mountdata"))
        do {
            _ = try volume.read("/CONFIGS/mountdata")
            Issue.record("read of a missing file succeeded")
        } catch {
            #expect(error.errno == ENOENT)
        }
    }

    @Test("a read-only volume refuses changes with EROFS")
    func readOnlyVolumeRefusesWrites() throws {
        let image = try Ext4Image()
        let volume = try Ext2Volume(path: image.path)
        do {
            try volume.setLabel("nope")
            Issue.record("label set on a read-only volume")
        } catch {
            #expect(error.errno == EROFS)
        }
    }

    @Test("a label longer than 16 bytes is refused with EINVAL")
    func overlongLabelIsRefused() throws {
        let image = try Ext4Image()
        let volume = try Ext2Volume(path: image.path, writable: true)
        do {
            try volume.setLabel("testfs-OST0000-too-long")
            Issue.record("17+ byte label accepted")
        } catch {
            #expect(error.errno == EINVAL)
        }
    }

    @Test("a file that is not ext2/3/4 fails to open with EINVAL and com_err's message")
    func nonExtImageFailsToOpen() throws {
        let file = try ScratchFile(contents: [UInt8](repeating: 0, count: 1 << 20))
        do {
            _ = try Ext2Volume(path: file.path)
            Issue.record("opened a zero-filled file as ext4")
        } catch {
            #expect(error.errno == EINVAL)
            #expect(error.context.contains("magic"))
        }
    }
}

import Foundation
import Glibc
import LibCFS
import LustreCompat
import Testing
@testable import ObdClass

/// Runs a tool to completion and returns its exit status and combined output.
private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    try ExternalCommand.output([tool] + arguments, includingStandardError: true)
}

/// A fresh 64 MiB ext4 image in its own temporary directory, removed afterwards.
private final class Ext4Image {
    let directory: String
    let path: String

    init() throws {
        var template = Array("/tmp/obdclass-mountdata-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw LustreError.fromErrno("mkdtemp")
        }
        directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        path = directory + "/target.img"
        let made = try run("/sbin/mke2fs", ["-q", "-F", "-t", "ext4", path, "64M"])
        guard made.status == 0 else { throw LustreError(errno: EIO, "mke2fs: \(made.output)") }
    }

    deinit {
        unlink(path)
        rmdir(directory)
    }
}

@Suite("MountData on an ext4 image")
struct MountDataOnExt4Tests {
    @Test("written with Ext2Volume, read back after reopening, and e2fsck is clean")
    func roundTripThroughLibext2fs() throws {
        let image = try Ext4Image()
        var data = MountData()
        data.flags = [.ost, .virgin, .update]
        data.index = 3
        data.fsname = "testfs"
        data.svname = try TargetName(fsname: "testfs", kind: .ost, index: 3).description
        data.mountOptions = "errors=remount-ro"
        try data.addParameter(.init(key: "mgsnode", value: "127.0.0.1@tcp:127.0.0.2@tcp"))

        let volume = try Ext2Volume(path: image.path, writable: true)
        try volume.setLabel(data.svname)
        try volume.mkdir(MountData.configsDirectory)
        try volume.write(MountData.filePath, data.encode())
        try volume.close()

        let reopened = try Ext2Volume(path: image.path)
        #expect(reopened.label == "testfs-OST0003")
        let decoded = try MountData(decoding: reopened.read(MountData.filePath))
        try reopened.close()
        #expect(decoded == data)
        #expect(decoded.targetName?.index == 3)
        #expect(decoded.mgsNodes == [["127.0.0.1@tcp"], ["127.0.0.2@tcp"]])

        let check = try run("/sbin/e2fsck", ["-fn", image.path])
        #expect(check.status == 0, "e2fsck: \(check.output)")
    }

    @Test("rewriting mountdata with a shorter params list leaves no stale tail")
    func rewriteInPlace() throws {
        let image = try Ext4Image()
        var data = MountData()
        data.flags = .mgs
        data.svname = "MGS"
        for index in 0..<20 { try data.addParameter(.init(key: "k\(index)", value: "v\(index)")) }
        let volume = try Ext2Volume(path: image.path, writable: true)
        try volume.mkdir(MountData.configsDirectory)
        try volume.write(MountData.filePath, data.encode())
        data.rawParameters = ""
        data.flags.insert(.writeconf)
        try volume.write(MountData.filePath, data.encode())
        try volume.close()

        let reopened = try Ext2Volume(path: image.path)
        let bytes = try reopened.read(MountData.filePath)
        try reopened.close()
        #expect(bytes.count == MountData.size)
        #expect(try MountData(decoding: bytes) == data)
    }
}

import Glibc
import LibCFS
import ObdClass

extension MDTDevice {
    /// Up to `maxEntries` entries of the directory `fid` from `cookie` (0: the start). "." and
    /// ".." are not returned (the client knows both). Each entry's cookie is ext4's htree hash
    /// position after it (`d_off`), which stays valid across inserts and deletes: a scan
    /// resumed from it neither repeats nor skips entries that stayed put; entries added or
    /// removed meanwhile may or may not appear, as POSIX allows.
    public func readdir(_ fid: LustreFID, cookie: UInt64, maxEntries: Int,
                        credentials: MDTCredentials) async throws(LustreError) -> MDTDirPage {
        let (directory, st) = try self.directory(fid)
        try MDTPermission.check(credentials, st, MDTPermission.read, "readdir \(fid)")
        let limit = max(1, min(maxEntries, MDTDirPage.maxEntries))
        let fd = openat(directory.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LustreError.fromErrno("open \(fid)") }
        defer { Glibc.close(fd) }
        if cookie != 0 {
            guard lseek(fd, off_t(Int64(bitPattern: cookie)), SEEK_SET) >= 0 else {
                throw LustreError(errno: EINVAL, "readdir \(fid): bad cookie \(cookie)")
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 8)
        defer { buffer.deallocate() }
        let prefix = MDTSyscalls.procPath(fd) + "/"
        var entries: [MDTDirEntry] = []
        while true {
            let n = MDTSyscalls.getdents(fd, buffer)
            guard n >= 0 else { throw LustreError(errno: Int32(-n), "readdir \(fid)") }
            if n == 0 { return MDTDirPage(entries: entries, end: true) }
            var offset = 0
            while offset < n {
                let next = buffer.load(fromByteOffset: offset + 8, as: Int64.self)
                let length = Int(buffer.load(fromByteOffset: offset + 16, as: UInt16.self))
                let type = buffer[offset + 18]
                let nameBytes = UnsafeRawBufferPointer(rebasing: buffer[(offset + 19)..<(offset + length)])
                let name = String(decoding: nameBytes.prefix(while: { $0 != 0 }), as: UTF8.self)
                let number = buffer.load(fromByteOffset: offset, as: UInt64.self)   // d_ino
                offset += length
                if name == "." || name == ".." { continue }
                var entryFID = tree.oi.cachedFID(number: number)
                if entryFID == nil, case .success(let bytes) = MDTSyscalls.getxattr(prefix + name, tree.lmaName, noFollow: true) {
                    entryFID = try? MDTLMA(decoding: bytes).fid
                }
                // No FID: gone meanwhile, or a create still in progress.
                guard let entryFID else { continue }
                entries.append(MDTDirEntry(name: name, fid: entryFID, type: type, cookie: UInt64(bitPattern: next)))
                if entries.count == limit { return MDTDirPage(entries: entries, end: false) }
            }
        }
    }
}

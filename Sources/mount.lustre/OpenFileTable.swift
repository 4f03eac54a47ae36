import LLite
import LibCFS
import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One open file of the mount: the `LustreFile` behind a FUSE file handle.
final class OpenFile: Sendable {
    let file: LustreFile
    let fid: LustreFID
    /// `open(2)` flags, for `O_APPEND`.
    let flags: Int32
    /// Written to since the last flush: `close(2)` then pushes the data to the OSTs.
    let dirty = Atomic<Bool>(false)
    /// The file had setuid, or setgid with group execute, at open and no write or truncate by
    /// a user other than root has dropped them through this handle yet.
    let mayKeepPrivileges: Atomic<Bool>

    init(file: LustreFile, flags: Int32) {
        self.file = file
        self.fid = file.fid
        self.flags = flags
        self.mayKeepPrivileges = Atomic(Self.hasPrivileges(file.openAttributes.mode))
    }

    /// Whether `mode` has bits a write by others than root drops (the kernel's `should_remove_suid`).
    static func hasPrivileges(_ mode: UInt32) -> Bool {
        mode & UInt32(S_ISUID) != 0 || mode & UInt32(S_ISGID | S_IXGRP) == UInt32(S_ISGID | S_IXGRP)
    }

    var isAppend: Bool { flags & O_APPEND != 0 }
}

/// An open directory: the last page read from the MDT, so consecutive `readdir` calls of one
/// listing cost one RPC per page rather than one per kernel buffer.
final class OpenDirectory: Sendable {
    let fid: LustreFID
    private let page = Mutex<(start: UInt64, entries: [MDTDirEntry], end: Bool)?>(nil)

    init(fid: LustreFID) { self.fid = fid }

    /// The cached entries after cookie `offset`, if the cached page covers it.
    func cachedEntries(after offset: UInt64) -> (entries: ArraySlice<MDTDirEntry>, end: Bool)? {
        page.withLock { page in
            guard let page else { return nil }
            if page.start == offset { return (page.entries[...], page.end) }
            guard let index = page.entries.firstIndex(where: { $0.cookie == offset }) else { return nil }
            return (page.entries[(index + 1)...], page.end)
        }
    }

    func cache(start: UInt64, entries: [MDTDirEntry], end: Bool) {
        page.withLock { $0 = (start, entries, end) }
    }
}

/// FUSE file handles → open files and directories. Handles are never reused within a mount.
final class OpenFileTable: Sendable {
    private struct State {
        var files: [UInt64: OpenFile] = [:]
        var directories: [UInt64: OpenDirectory] = [:]
        var next: UInt64 = 1
    }

    private let state = Mutex(State())

    func add(_ file: OpenFile) -> UInt64 {
        state.withLock { state in
            let handle = state.next
            state.next += 1
            state.files[handle] = file
            return handle
        }
    }

    func add(_ directory: OpenDirectory) -> UInt64 {
        state.withLock { state in
            let handle = state.next
            state.next += 1
            state.directories[handle] = directory
            return handle
        }
    }

    func file(_ handle: UInt64) throws(LustreError) -> OpenFile {
        guard let file = state.withLock({ $0.files[handle] }) else { throw LustreError(errno: EBADF, "file handle \(handle)") }
        return file
    }

    func directory(_ handle: UInt64) -> OpenDirectory? { state.withLock { $0.directories[handle] } }

    func removeFile(_ handle: UInt64) -> OpenFile? { state.withLock { $0.files.removeValue(forKey: handle) } }

    func removeDirectory(_ handle: UInt64) { _ = state.withLock { $0.directories.removeValue(forKey: handle) } }

    /// The open file of this mount for `fid`, if any (for `truncate` and size on `setattr`).
    func anyFile(for fid: LustreFID) -> OpenFile? { state.withLock { $0.files.values.first { $0.fid == fid } } }

    /// Every open file, removed from the table (at unmount: the kernel will not release them).
    func removeAll() -> [OpenFile] {
        state.withLock { state in
            defer { state.files = [:]; state.directories = [:] }
            return Array(state.files.values)
        }
    }
}

import Foundation
import Glibc
import LibCFS
@testable import LustreCompat

/// A scratch file in /tmp (ext4 here, so O_DIRECT works), closed and unlinked on deinit.
final class ScratchFile: @unchecked Sendable {
    let path: String
    let fd: Int32

    /// Opens a new empty file; `direct` adds O_DIRECT (libaio needs it to be asynchronous).
    init(direct: Bool = false, contents: [UInt8]? = nil) throws {
        path = "/tmp/lustre-compat-\(getpid())-\(UUID().uuidString)"
        if let contents {
            let plain = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
            guard plain >= 0 else { throw LustreError.fromErrno("create \(path)") }
            _ = contents.withUnsafeBytes { write(plain, $0.baseAddress, $0.count) }
            close(plain)
        }
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0), 0o600)
        guard fd >= 0 else { throw LustreError.fromErrno("open \(path)") }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    var size: Int {
        var st = stat()
        fstat(fd, &st)
        return Int(st.st_size)
    }
}

/// Fills `buffer` with a pattern that differs per `seed` and per position.
func fillPattern(_ buffer: UnsafeMutableRawBufferPointer, seed: Int) {
    let words = buffer.count / 8
    let typed = buffer.baseAddress!.bindMemory(to: UInt64.self, capacity: words)
    var x = UInt64(truncatingIfNeeded: seed) &* 0x9E37_79B9_7F4A_7C15 | 1
    for i in 0..<words {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        typed[i] = x
    }
    for i in (words * 8)..<buffer.count { buffer[i] = UInt8(truncatingIfNeeded: seed &+ i) }
}

/// The kernel thread ids an engine runs, whatever its kind.
func engineThreadIDs(_ engine: any IOEngine) -> [Int32] {
    if let e = engine as? IOEngineHandle<URingBackend> { return e.backend.threadIDs }
    if let e = engine as? IOEngineHandle<LibAIOBackend> { return e.backend.threadIDs }
    if let e = engine as? IOEngineHandle<SyncBackend> { return e.backend.threadIDs }
    return []
}

func threadExists(_ tid: Int32) -> Bool {
    access("/proc/self/task/\(tid)", F_OK) == 0
}

/// Waits (briefly) until every thread of `engine` has published its kernel id.
func startedThreadIDs(_ engine: any IOEngine) async throws -> [Int32] {
    for _ in 0..<200 {
        let ids = engineThreadIDs(engine)
        if !ids.isEmpty && !ids.contains(0) { return ids }
        try await Task.sleep(for: .milliseconds(5))
    }
    return engineThreadIDs(engine)
}

/// Whether two buffers hold the same bytes (memcmp, so 9 MiB compares stay fast in debug).
func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
}

func sameBytes(_ a: UnsafeMutableRawBufferPointer, _ b: UnsafeMutableRawBufferPointer) -> Bool {
    sameBytes(UnsafeRawBufferPointer(a), UnsafeRawBufferPointer(b))
}

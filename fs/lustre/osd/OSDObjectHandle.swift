import Glibc

/// An open OST object: its buffered descriptor and, when `directIO` is on, an `O_DIRECT` one.
///
/// Descriptors are closed when the last reference goes, not when the cache evicts the handle:
/// an I/O in flight keeps its handle alive, so a descriptor number is never closed (and reused
/// by an unrelated open) under a request that still targets it.
final class OSDObjectHandle: Sendable {
    /// Buffered descriptor: metadata calls, and I/O that is not 4 KiB-aligned.
    let fd: Int32
    /// `O_DIRECT` descriptor for aligned bulk I/O, or -1 when direct I/O is off.
    let directFD: Int32

    init(fd: Int32, directFD: Int32) {
        self.fd = fd
        self.directFD = directFD
    }

    deinit {
        close(fd)
        if directFD >= 0 { close(directFD) }
    }
}

import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The files this client holds open on the MDT (Lustre's `obd_client_handle`s), by the handle
/// the MDC gave each open: the MDS's handle of the moment and what opens the file again.
///
/// An MDS's open handles live in its memory and die with it. After it restarts, the MDC opens
/// every file still open here again (Lustre's open replay) and the new handle takes the old
/// one's place, so a close after the restart still tells the MDS the size and mtime the client
/// wrote, and a file unlinked while open stays open.
final class MDCOpenHandles: Sendable {
    /// One open.
    struct Open: Sendable {
        var fid: LustreFID
        /// The open's flags, without `O_CREAT`, `O_EXCL` and `O_TRUNC` (an open again must not
        /// truncate what the client wrote since).
        var flags: Int32
        var credentials: MDTCredentials
        /// The MDS's handle (0: the open could not be made again; its close tells nothing).
        var serverHandle: UInt64
    }

    private struct State {
        var opens: [UInt64: Open] = [:]
        var nextHandle: UInt64 = 1
    }

    private let state = Mutex(State())

    /// Records an open the MDS answered with `serverHandle`; returns the client's handle for it.
    func add(fid: LustreFID, flags: Int32, credentials: MDTCredentials, serverHandle: UInt64) -> UInt64 {
        let open = Open(fid: fid, flags: flags & ~(O_CREAT | O_EXCL | O_TRUNC), credentials: credentials,
                        serverHandle: serverHandle)
        return state.withLock { state in
            let handle = state.nextHandle
            state.nextHandle += 1
            state.opens[handle] = open
            return handle
        }
    }

    /// The MDS's handle of the open `handle` now (nil: not open).
    func serverHandle(_ handle: UInt64) -> UInt64? { state.withLock { $0.opens[handle]?.serverHandle } }

    /// Forgets the open `handle` (it is closed).
    @discardableResult
    func remove(_ handle: UInt64) -> Open? { state.withLock { $0.opens.removeValue(forKey: handle) } }

    /// Every open, by handle.
    var all: [(handle: UInt64, open: Open)] { state.withLock { $0.opens.map { ($0.key, $0.value) } } }

    var count: Int { state.withLock { $0.opens.count } }

    /// Sets the MDS's handle of `handle` (opened again), if it is still open.
    func update(_ handle: UInt64, serverHandle: UInt64) {
        state.withLock { $0.opens[handle]?.serverHandle = serverHandle }
    }
}

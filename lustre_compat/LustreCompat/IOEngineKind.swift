import Glibc
import LibCFS

/// The I/O engine implementations, named as the `--io-engine` option and tunable spell them.
public enum IOEngineKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Linux io_uring: batched submission, one reaper thread, registered buffers.  The default.
    case ioUring = "io_uring"
    /// Linux AIO (libaio): asynchronous only for `O_DIRECT` descriptors with aligned I/O.
    case libaio = "libaio"
    /// `pread`/`pwrite` on a pool of OS threads: works everywhere.
    case sync = "sync"

    /// The kind named `name` ("io_uring", "libaio", "sync"; case-insensitive), if any.
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }

    public var description: String { rawValue }

    /// The best engine this process may use: io_uring unless the kernel refuses a ring
    /// (`kernel.io_uring_disabled`, seccomp, an old kernel), then libaio unless `io_setup`
    /// fails, then sync.
    public static func probe() -> IOEngineKind {
        if URingBackend.probe() == 0 { return .ioUring }
        if LibAIOBackend.probe() == 0 { return .libaio }
        return .sync
    }
}

/// Makes an I/O engine.
///
/// - Parameters:
///   - kind: the engine to use; `nil` probes (io_uring, else libaio, else sync) and falls back
///     down that list if creating the probed one fails.  A kind given explicitly is honoured or
///     the call fails: forcing is for operators and tests, who must not get a silent substitute.
///   - queueDepth: requests in flight in the kernel at once (io_uring, libaio); the sync engine
///     runs `min(queueDepth, 16)` threads.  More callers than this wait their turn.
public func makeIOEngine(kind: IOEngineKind? = nil, queueDepth: Int = 64) throws(LustreError) -> any IOEngine {
    guard queueDepth >= 1 && queueDepth <= 4096 else {
        throw LustreError.invalid("I/O engine queue depth \(queueDepth) (1...4096)")
    }
    if let kind { return try makeEngine(kind, queueDepth: queueDepth) }
    let all = IOEngineKind.allCases
    let kinds = all[all.firstIndex(of: IOEngineKind.probe())!...]
    var lastError = LustreError(errno: ENOSYS, "no I/O engine available")
    for kind in kinds {
        do { return try makeEngine(kind, queueDepth: queueDepth) } catch { lastError = error }
    }
    throw lastError
}

private func makeEngine(_ kind: IOEngineKind, queueDepth: Int) throws(LustreError) -> any IOEngine {
    switch kind {
    case .ioUring: return IOEngineHandle(try URingBackend(queueDepth: queueDepth))
    case .libaio: return IOEngineHandle(try LibAIOBackend(queueDepth: queueDepth))
    case .sync: return IOEngineHandle(try SyncBackend(threads: Swift.min(queueDepth, 16)))
    }
}

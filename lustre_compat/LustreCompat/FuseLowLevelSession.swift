internal import CFuse3
import Glibc
import LibCFS

/// The seed of the FUSE session glue: a libfuse3 low-level session, created and destroyed.
///
/// For now it proves the lowlevel API links and imports; mounting, the request loop (on its own
/// threads, off the Swift pool) and the operation table come with the FUSE daemon.  Kept internal
/// until then.
final class FuseLowLevelSession {
    /// argv for libfuse, in C strings we own: libfuse may keep pointers into them.
    private let argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let argc: Int
    private var arguments: fuse_args
    private var session: OpaquePointer?

    /// Creates a session with an operation table of all-nil callbacks (libfuse answers ENOSYS).
    ///
    /// - Parameter arguments: argv as for a FUSE program, program name first.
    init(arguments: [String] = ["lustre"]) throws(LustreError) {
        argc = arguments.count
        argv = .allocate(capacity: argc + 1)
        for (i, argument) in arguments.enumerated() { argv[i] = strdup(argument) }
        argv[argc] = nil
        // FUSE_ARGS_INIT is a macro: build the struct by hand.
        self.arguments = fuse_args(argc: Int32(argc), argv: argv, allocated: 0)
        var operations = fuse_lowlevel_ops()  // zeroed
        session = fuse_session_new(&self.arguments, &operations, MemoryLayout<fuse_lowlevel_ops>.size, nil)
        guard session != nil else {
            Self.free(argv, argc)
            throw LustreError(errno: EINVAL, "fuse_session_new \(arguments)")
        }
    }

    deinit {
        if let session { fuse_session_destroy(session) }
        fuse_opt_free_args(&arguments)
        Self.free(argv, argc)
    }

    /// libfuse's version, as FUSE_VERSION encodes it (3.14 → 314).
    static var libraryVersion: Int { Int(fuse_version()) }

    /// Whether the session exists (always, once initialised; for tests).
    var isCreated: Bool { session != nil }

    private static func free(_ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, _ argc: Int) {
        for i in 0..<argc { Glibc.free(argv[i]) }
        argv.deallocate()
    }
}

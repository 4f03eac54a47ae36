import Glibc
import LibCFS
import ObdClass
import Synchronization

/// Hands out FIDs for new inodes from sequences of `width` object ids (Lustre's `seq_srv` with
/// `LUSTRE_SEQ_MAX_WIDTH`), and whole sequences to clients that allocate their files' FIDs
/// themselves (`SEQ_QUERY`). The high-water mark (`seq_srv` on the target root: the first
/// sequence never handed out) is written and fsynced before a sequence is used or granted, so a
/// FID is never handed out twice, crash or not: each start takes a fresh sequence.
final class MDTFIDSequencer: Sendable {
    static let width: UInt32 = 0x20000
    static let fileName = "seq_srv"
    /// `FID_SEQ_ROOT`: the sequence of the root directory's fixed FID.
    static let rootFID = LustreFID(sequence: 0x2_0000_0007, objectID: 1)

    private struct State {
        /// The sequence this MDT allocates from, and its next object id.
        var sequence: UInt64
        var next: UInt32
        /// The first sequence never handed out (what `seq_srv` holds).
        var highWater: UInt64
    }

    private let rootFD: Int32
    private let state: Mutex<State>

    init(rootFD: Int32) throws(LustreError) {
        self.rootFD = rootFD
        let highWater = try Self.readHighWater(rootFD: rootFD) ?? LustreFID.firstNormalSequence
        try Self.writeHighWater(rootFD: rootFD, highWater + 1)
        state = Mutex(State(sequence: highWater, next: 1, highWater: highWater + 1))
    }

    static func readHighWater(rootFD: Int32) throws(LustreError) -> UInt64? {
        let fd = openat(rootFD, fileName, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw LustreError.fromErrno("open \(fileName)")
        }
        defer { Glibc.close(fd) }
        var value: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &value) { pread(fd, $0.baseAddress, 8, 0) }
        guard n == 8 else { throw LustreError(errno: EUCLEAN, "\(fileName) is truncated") }
        let sequence = UInt64(littleEndian: value)
        guard sequence >= LustreFID.firstNormalSequence else { throw LustreError(errno: EUCLEAN, "\(fileName) is corrupt") }
        return sequence
    }

    private static func writeHighWater(rootFD: Int32, _ sequence: UInt64) throws(LustreError) {
        let fd = openat(rootFD, fileName, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LustreError.fromErrno("open \(fileName)") }
        defer { Glibc.close(fd) }
        var value = sequence.littleEndian
        let n = withUnsafeBytes(of: &value) { pwrite(fd, $0.baseAddress, 8, 0) }
        guard n == 8, fsync(fd) == 0 else { throw LustreError.fromErrno("write \(fileName)") }
    }

    /// The next unused FID.
    func allocate() throws(LustreError) -> LustreFID {
        try state.withLock { state throws(LustreError) -> LustreFID in
            if state.next > Self.width {
                try Self.writeHighWater(rootFD: rootFD, state.highWater + 1)
                state.sequence = state.highWater
                state.highWater += 1
                state.next = 1
            }
            defer { state.next += 1 }
            return LustreFID(sequence: state.sequence, objectID: state.next)
        }
    }

    /// A sequence no one was given before, durable before it is returned: a client's own,
    /// for the FIDs of the files it creates.
    func grant() throws(LustreError) -> UInt64 {
        try state.withLock { state throws(LustreError) -> UInt64 in
            try Self.writeHighWater(rootFD: rootFD, state.highWater + 1)
            defer { state.highWater += 1 }
            return state.highWater
        }
    }

    /// Refuses a FID a client chose that cannot come from a sequence granted to a client: a
    /// sequence never handed out, the one this MDT allocates from now, an object id outside the
    /// sequence's width, or a version. (A sequence this MDT allocated from before a restart is
    /// abandoned, so a FID in it is still unique; whether it is in use the OI says.)
    func checkClientFID(_ fid: LustreFID) throws(LustreError) {
        let (current, highWater) = state.withLock { ($0.sequence, $0.highWater) }
        guard fid.sequence >= LustreFID.firstNormalSequence, fid.sequence < highWater, fid.sequence != current,
              (1...Self.width).contains(fid.objectID), fid.version == 0 else {
            throw .invalid("\(fid) is not a FID of a sequence granted to a client")
        }
    }
}

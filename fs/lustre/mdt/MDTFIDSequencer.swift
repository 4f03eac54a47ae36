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

    /// Sequences above the high-water mark a client's FID may show for the mark to be raised
    /// past it (`checkClientFID`): grants since an older backup was taken, not a stray value.
    static let restoredGrantWindow: UInt64 = 1 << 20

    /// Refuses a FID a client chose that cannot come from a sequence granted to a client: a
    /// sequence never handed out, the one this MDT allocates from now, an object id outside the
    /// sequence's width, or a version. (A sequence this MDT allocated from before a restart is
    /// abandoned, so a FID in it is still unique; whether it is in use the OI says.)
    ///
    /// A sequence at or above the mark (within `restoredGrantWindow`) was granted by this MDT
    /// before it was restored from an older backup: the client's replay shows it. The mark is
    /// raised past it, durably, so it is never granted again (two clients would share it, and
    /// FIDs of files the restore lost would name new ones); the FID is still refused, as the
    /// client takes a new sequence after the restart.
    func checkClientFID(_ fid: LustreFID) throws(LustreError) {
        try state.withLock { state throws(LustreError) in
            guard fid.sequence >= LustreFID.firstNormalSequence, fid.sequence != state.sequence,
                  (1...Self.width).contains(fid.objectID), fid.version == 0 else {
                throw .invalid("\(fid) is not a FID of a sequence granted to a client")
            }
            guard fid.sequence >= state.highWater else { return }
            if fid.sequence - state.highWater < Self.restoredGrantWindow {
                try Self.writeHighWater(rootFD: rootFD, fid.sequence + 1)
                CWARN("\(fid): sequence \(String(fid.sequence, radix: 16)) was granted to a client, but not by this "
                      + "MDT's seq_srv (restored from an older backup?): sequences below \(String(fid.sequence + 1, radix: 16)) "
                      + "will not be granted again")
                state.highWater = fid.sequence + 1
            }
            throw .invalid("\(fid) is not a FID of a sequence this MDT granted")
        }
    }
}

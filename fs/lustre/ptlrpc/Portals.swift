/// LNet portal numbers of the Lustre services, as in `lustre_idl.h`.
public enum Portal {
    public static let connmgrRequest: UInt32 = 1
    public static let connmgrReply: UInt32 = 2
    public static let oscReply: UInt32 = 4
    public static let ostIO: UInt32 = 6
    public static let ostCreate: UInt32 = 7
    public static let ostBulk: UInt32 = 8
    public static let mdcReply: UInt32 = 10
    public static let mdsRequest: UInt32 = 12
    public static let mdsBulk: UInt32 = 14
    public static let mgcReply: UInt32 = 25
    public static let mgsRequest: UInt32 = 26
    public static let mgsBulk: UInt32 = 27
    public static let ostRequest: UInt32 = 28
    /// LNet self-test's request, reply and bulk portals.
    public static let selftestRequest: UInt32 = 51
    public static let selftestReply: UInt32 = 52
    public static let selftestBulk: UInt32 = 53
}

/// Opcodes PtlRPC itself understands; services add their own.
public enum Opcode {
    public static let ostConnect: UInt32 = 8
    public static let ostDisconnect: UInt32 = 9
    public static let mdsConnect: UInt32 = 38
    public static let mdsDisconnect: UInt32 = 39
    public static let mgsConnect: UInt32 = 250
    public static let mgsDisconnect: UInt32 = 251
    public static let obdPing: UInt32 = 400
    /// lnet-selftest's session connect, ping and bulk RPCs.
    public static let selftestConnect: UInt32 = 0x5300
    public static let selftestDisconnect: UInt32 = 0x5301
    public static let selftestPing: UInt32 = 0x5302
    public static let selftestBulkWrite: UInt32 = 0x5303
    public static let selftestBulkRead: UInt32 = 0x5304
}

/// Fault-injection points of PtlRPC (`OBD_FAIL_PTLRPC_*`, `OBD_FAIL_OSC_CHECKSUM_*`).
public enum PtlRPCFail {
    /// The server drops an incoming request unanswered.
    public static let dropRequest: UInt32 = 0x505
    /// The server handles the request but drops the reply.
    public static let dropReply: UInt32 = 0x50d
    /// The receiver of bulk data sees a corrupted checksum.
    public static let checksumReceive: UInt32 = 0x408
    /// The sender of bulk data sends a wrong checksum.
    public static let checksumSend: UInt32 = 0x409
}

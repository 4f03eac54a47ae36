/// What a server can do, sent back in its connect reply after the instance (`ocd_connect_flags`,
/// with Lustre's `OBD_CONNECT_*` bits). A reply without them (an older server) means none.
public struct PtlRPCConnectFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Small bulk may travel inside the request or the reply (`OBD_CONNECT_SHORTIO`): see
    /// `PtlRPCMessage.Flags.shortIO`.
    public static let shortIO = PtlRPCConnectFlags(rawValue: 0x2_0000_0000_0000)
}

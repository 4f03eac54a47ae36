/// The tunables of one LNet instance, named after the socklnd/LNet module parameters.
public struct LNetConfiguration: Sendable {
    /// The acceptor's TCP port, the same on every node (`accept_port`).
    public var acceptPort: Int = 988
    /// Whether to run an acceptor. Client-only instances (lctl, a mount) connect out only.
    public var listen: Bool = true
    /// Frames queued to the kernel per typed connection before more wait (`peer_credits`).
    public var peerCredits: Int = 8
    /// Delivered messages per connection not yet consumed before reads pause.
    public var receiveCredits: Int = 64
    /// Seconds of send silence after which a keepalive goes out (`keepalive`).
    public var keepalive: Int64 = 10
    /// Seconds without any traffic after which a peer is presumed dead (`peer_timeout`).
    public var peerTimeout: Int64 = 40
    /// Seconds an ACK or REPLY may take before the operation fails (`lnet_transaction_timeout`).
    public var transactionTimeout: Int64 = 50
    /// First and last delay between reconnect attempts to a peer that refused, in milliseconds.
    public var minReconnectMilliseconds: Int64 = 200
    public var maxReconnectMilliseconds: Int64 = 10_000
    /// TCP connect timeout in seconds.
    public var connectTimeout: Int64 = 5
    /// Payloads larger than this travel on the bulk connection (socklnd's `min_bulk`).
    public var minBulk: Int = 16 << 10
    /// Bulk payloads of whole pages are received into page-aligned memory (`LNetBulkAllocator`),
    /// for a server that writes them to disk with `O_DIRECT` (lustre-oss with direct writes).
    public var pageAlignedBulk = false

    public init() {}
}

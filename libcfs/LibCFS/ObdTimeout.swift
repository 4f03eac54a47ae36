/// `obd_timeout` (`lctl get_param timeout`, Lustre's `/sys/fs/lustre/timeout`), in seconds: 100
/// by default. A client pings each server it has not sent a request to for a quarter of it
/// (Lustre's `PING_INTERVAL`), and a server evicts a client it has not heard from for one and
/// a half times it (`PING_EVICT_TIMEOUT`, six ping intervals): a client that died without
/// unmounting gives back what it held (grant, open files) in 150 s, not at the server's restart.
/// Set it alike on servers and clients: a client pinging less often than a server expects
/// is evicted while alive.
public enum ObdTimeout {
    /// The setting; `lctl set_param timeout=N` changes it in this process.
    public static let seconds = Tunable(100, range: 1...3600)

    /// Seconds without a request after which a client pings (a quarter of the timeout).
    public static var pingInterval: Double { Double(seconds.value) / 4 }

    /// Seconds without hearing from a client after which a server evicts it.
    public static var evictionTimeout: Double { Double(seconds.value) * 6 / 4 }

    /// Registers `timeout`.
    static func registerParams(in tree: ParamTree) {
        try? tree.register("timeout", tunable: seconds)
    }
}

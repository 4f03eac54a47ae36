import LNet
import LibCFS
import ObdClass

extension LustreClient {
    /// How a client mounts and the starting values of its tunables.
    public struct Options: Sendable {
        /// `llite.*.max_read_ahead_mb`: the read-ahead window of one sequential stream (0: off).
        public var maxReadAheadMB = 64
        /// `llite.*.statahead_max`: lookups sent ahead when the names looked up in a directory
        /// count up (0: off).
        public var statAheadMax = 128
        /// `llite.*.statahead_batch_max`: lookups sent ahead together in one `MDS_BATCH` RPC
        /// at most (0 or 1: one RPC each).
        public var statAheadBatchMax = 32
        /// Seconds a lookup sent ahead may answer: the mount's entry timeout.
        public var statAheadLifetime: Double = 1
        /// Seconds the MDS's attributes may answer for their file (the mount's attribute
        /// timeout): how long a reported absent SELinux label is trusted (0: never).
        public var attributeLifetime: Double = 1
        /// `osc.*.max_dirty_mb`: write-back data cached per OSC before writers wait.
        public var maxDirtyMB = 32
        /// `llite.*.max_cached_mb`: write data pinned until commit, across the OSCs, before writers
        /// wait for the OSTs to commit; 0: `OSCClientCache.automaticMBPerOSC` per OSC, at most half the RAM.
        public var maxCachedMB = 0
        /// `osc.*.max_rpcs_in_flight`.
        public var maxRPCsInFlight = 8
        /// `osc.*.max_pages_per_rpc` in 4 KiB pages (1024 = 4 MiB RPCs).
        public var maxPagesPerRPC = 1024
        /// Bulk checksums on OST I/O (`osc.*.checksums`), with `checksumType`.
        public var checksums = true
        public var checksumType: ChecksumType = .crc32c
        /// LNet to use; nil starts one for this client (`localNID`, `acceptPort`) and shuts it
        /// down at unmount.
        public var lnet: LNetInstance?
        /// This client's NID when it starts its own LNet; nil: 127.0.0.1@tcp for an MGS on a
        /// loopback address, else the first configured local NID.
        public var localNID: NID?
        /// The servers' LNet port (`accept_port`).
        public var acceptPort = 988
        /// How long mounting may take before it fails (MGS unreachable, targets not answering).
        public var mountTimeout: Double = 30
        /// How long a call keeps retrying through a server's restart before ETIMEDOUT.
        public var recoveryTimeout: Double = 300
        /// Lower bound of RPC timeouts (`at_min`), seconds.
        public var minTimeout: Double = 5
        /// Names this client in device names (`testfs-OST0000-osc-<instance>`); nil: random hex.
        public var instance: String?
        /// Called with the configuration at mount and with each newer one from the MGS, once
        /// the devices it adds are set up (mount.lustre applies `set_param -P` parameters).
        public var onConfiguration: (@Sendable (FilesystemConfiguration) -> Void)?
        /// The write-back expiry and interval, asked before each of the flusher's rounds: the
        /// node's `vm.dirty_expire_centisecs` and `vm.dirty_writeback_centisecs` (tests shorten them).
        var writeback: @Sendable () -> LLiteFlusher.Settings = LLiteFlusher.Settings.current

        public init() {}
    }
}

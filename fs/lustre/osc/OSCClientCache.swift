import Atomics
import LibCFS
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What the OSCs of one client share (Lustre's `cl_client_cache`): the write data they pin for
/// replay until their OSTs commit it, Lustre's unstable pages, bounded by `max_cached_mb`.
///
/// An OST commits on its own cadence, and a commit takes as long as its disk needs to write
/// everything since the last one, so a fast network in front of a slow disk would let a
/// streaming writer pin without bound. As Lustre's client does: past a quarter of the bound, an
/// OSC holding more than one RPC window marks its writes `OBD_BRW_SOFT_SYNC` (the OST commits
/// early); at the bound, writers wait while every OSC holding some asks its OST to commit now
/// (`OST_SYNC`), and the replies' `last_committed` free what they cover.
public final class OSCClientCache: Sendable {
    /// `llite.*.max_cached_mb`: the bound, in MiB; 0 (the default) sizes it by the OSCs,
    /// `automaticMBPerOSC` each, at most half the RAM (Lustre's default, which counts the
    /// kernel's page cache; here the pinned data is the mount daemon's own memory, and fresh
    /// memory for every byte written costs more CPU than the early commits do, see
    /// docs/performance.md).
    public let maxCachedMB: Tunable<Int>
    /// The bound per OSC when `max_cached_mb` is 0.
    public static let automaticMBPerOSC = 128
    private let unstable = ManagedAtomic<Int>(0)
    private let devices = Mutex<[ObjectIdentifier: WeakDevice]>([:])
    /// Times a writer waited at the bound (`reclaim_count`).
    private let waits = ManagedAtomic<Int>(0)

    private struct WeakDevice: Sendable {
        weak var device: OSCDevice?
    }

    /// A cache bounded at `maxCachedMB` MiB (0: by the OSCs).
    public init(maxCachedMB: Int = 0) {
        let ram = Self.ramMB
        self.maxCachedMB = Tunable(min(max(maxCachedMB, 0), ram), range: 0...ram, unit: .mebibytes)
    }

    /// The bound in force, in MiB.
    public var limitMB: Int {
        let set = maxCachedMB.value
        if set > 0 { return set }
        let osc = devices.withLock { $0.count }
        return max(1, min(Self.ramMB / 2, Self.automaticMBPerOSC * osc))
    }

    /// MiB of RAM, the largest bound.
    static var ramMB: Int {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        return max((Int(pages) * Int(pageSize)) >> 20, 1)
    }

    /// Bytes pinned by every OSC of the client.
    public var unstableBytes: Int { unstable.load(ordering: .relaxed) }

    /// Whether the pinned bytes reached the bound.
    public var isFull: Bool { unstableBytes >= limitMB << 20 }

    /// Whether an OSC pinning `deviceBytes`, with RPC windows of `windowBytes`, should ask its OST to
    /// commit early (`osc_over_unstable_soft_limit`).
    func wantsSoftSync(deviceBytes: Int, windowBytes: Int) -> Bool {
        unstableBytes > (limitMB << 20) / 4 && deviceBytes > windowBytes
    }

    func register(_ device: OSCDevice) {
        devices.withLock { $0[ObjectIdentifier(device)] = WeakDevice(device: device) }
    }

    func unregister(_ device: OSCDevice) {
        devices.withLock { $0[ObjectIdentifier(device)] = nil }
    }

    /// An import's pinned bytes changed by `delta`.
    func add(_ delta: Int) {
        unstable.wrappingIncrement(by: delta, ordering: .relaxed)
    }

    /// Returns once the pinned bytes are under the bound: every OSC pinning some commits, as often
    /// as it takes. Gives up (the write goes on) when a round frees nothing, so an OST whose sync
    /// keeps failing slows writers down instead of stopping them.
    func throttle() async {
        var counted = false
        while isFull {
            if !counted {
                waits.wrappingIncrement(ordering: .relaxed)
                counted = true
            }
            let holders = devices.withLock { $0.values.compactMap(\.device) }.filter { $0.rpcImport.unstableBytes > 0 }
            guard !holders.isEmpty else { return }
            let before = unstableBytes
            await withTaskGroup(of: Void.self) { group in
                for device in holders { group.addTask { await device.commitUnstable() } }
            }
            if unstableBytes >= before { return }
        }
    }

    /// `llite.*.max_cached_mb` as Lustre prints it; only the pinned write data is counted here (this
    /// client caches read data apart, bounded by `max_read_ahead_mb`).
    public func maxCachedText() -> String {
        let limit = limitMB, used = (unstableBytes + (1 << 20) - 1) >> 20
        let users = devices.withLock { $0.values.count { $0.device != nil } }
        return """
            users: \(users)
            max_cached_mb: \(limit)
            used_mb: \(used)
            unused_mb: \(max(limit - used, 0))
            reclaim_count: \(waits.load(ordering: .relaxed))

            """
    }

    /// `llite.*.unstable_stats` / `osc.*.unstable_stats` for `bytes` pinned.
    public static func unstableStatsText(bytes: Int, check: Bool? = nil) -> String {
        let pages = (bytes + OSCDevice.pageSize - 1) / OSCDevice.pageSize
        let checkLine = check.map { "unstable_check: \(pad($0 ? 1 : 0, 8))\n" } ?? ""
        return checkLine + "unstable_pages: \(pad(pages, 20))\nunstable_mb:    \(pad(bytes >> 20, 10))\n"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = "\(value)"
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}

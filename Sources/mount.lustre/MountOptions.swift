import LibCFS

/// The `-o` options of `mount.lustre`: Lustre's client options, mount(8)'s generic ones (accepted
/// and ignored where they mean nothing here), and the daemon's own.
struct MountOptions: Equatable {
    /// Stay attached to the terminal instead of serving in the background.
    var foreground = false
    var readOnly = false
    /// `user.*` extended attributes allowed (Lustre's `user_xattr`, on by default here).
    var userXattr = true
    /// Bulk checksums on the OSTs' data (Lustre's `checksum`/`nochecksum`).
    var checksums = true
    /// `direct_io`: reads and writes of regular files bypass the kernel's page cache and go
    /// between the caller's buffer and this daemon with one copy (FUSE's `FOPEN_DIRECT_IO`).
    /// Large transfers gain (cold 1 MiB reads +35 % here); reads of a few KiB each pay a FUSE
    /// round trip apiece instead of hitting read-ahead pages, so it is not the default.
    var directIO = false
    /// `direct_writes` (default; `nodirect_writes`): files opened write-only, or read-write while
    /// empty, bypass the page cache (`FOPEN_DIRECT_IO`) on kernels that keep other opens' cached
    /// pages coherent with such writes (Linux 6.6 on): their writes lose only the copy into pages
    /// no one reads (`LustreFuseFileSystem.bypassesPageCache`).
    var directWrites = true
    /// `io_uring` (default; `noio_uring`): FUSE requests through io_uring queues, one per CPU,
    /// each served on its CPU (Linux 6.14; as root the `fuse` module's `enable_uring` is turned
    /// on). Where the kernel does not offer it, requests go through `/dev/fuse`.
    var ioURing = true
    /// Whether `io_uring` was given: only then is a kernel without it worth a warning.
    var ioURingAsked = false
    /// The servers' LNet acceptor port (the `accept_port` LNet parameter).
    var acceptPort = 988
    /// `metrics_address=HOST:PORT`: serve Prometheus metrics there (as the servers'
    /// `--metrics-address`).
    var metricsAddress: String?
    /// Options that changed nothing, for the verbose log.
    var ignored: [String] = []

    /// mount(8)'s generic options and fstab-only ones: meaningful to mount(8) or to the kernel's
    /// VFS, not to this client.
    static let generic: Set<String> = [
        "defaults", "rw", "_netdev", "auto", "noauto", "user", "nouser", "users", "owner", "group", "nofail",
        "async", "atime", "noatime", "relatime", "norelatime", "strictatime", "nostrictatime",
        "diratime", "nodiratime", "lazytime", "nolazytime", "dev", "nodev", "suid", "nosuid", "exec", "noexec",
        "loud", "silent", "mand", "nomand",
    ]
    /// Lustre client options with nothing to switch here: file locks are the kernel's (local to the
    /// node, as `localflock`), statfs always skips OSTs silent for 5 s (`lazystatfs`), fid2path is
    /// open to every user, and there is no ACL or pinger to tune.
    static let lustreAccepted: Set<String> = [
        "flock", "localflock", "noflock", "lazystatfs", "nolazystatfs", "user_fid2path", "nouser_fid2path",
        "verbose", "noverbose", "always_ping", "noacl",
    ]

    init() {}

    /// Parses comma-separated options (several `-o` are joined); an unknown option is an error
    /// naming it, unless `sloppy` (mount's `-s`).
    init(parsing lists: [String], sloppy: Bool = false) throws(LustreError) {
        for list in lists {
            for option in list.split(separator: ",", omittingEmptySubsequences: true).map(String.init) {
                let (key, value) = Self.split(option)
                switch key {
                case "foreground", "fg": foreground = true
                case "ro": readOnly = true
                case "user_xattr": userXattr = true
                case "nouser_xattr": userXattr = false
                case "checksum": checksums = true
                case "nochecksum": checksums = false
                case "direct_io": directIO = true
                case "nodirect_io": directIO = false
                case "direct_writes": directWrites = true
                case "nodirect_writes": directWrites = false
                case "io_uring": ioURing = true; ioURingAsked = true
                case "noio_uring": ioURing = false; ioURingAsked = false
                case "accept_port":
                    guard let value, let port = Int(value), (1...65535).contains(port) else {
                        throw .invalid("accept_port=\(value ?? ""): expected a TCP port 1-65535")
                    }
                    acceptPort = port
                case "metrics_address":
                    guard let value, let colon = value.lastIndex(of: ":"), colon != value.startIndex,
                          let port = Int(value[value.index(after: colon)...]), (0...65535).contains(port) else {
                        throw .invalid("metrics_address=\(value ?? ""): expected HOST:PORT")
                    }
                    metricsAddress = value
                case _ where value == nil && (Self.generic.contains(key) || Self.lustreAccepted.contains(key)):
                    ignored.append(option)
                case _ where key.hasPrefix("x-") || key == "comment":
                    ignored.append(option)
                default:
                    guard sloppy else {
                        throw .invalid("unknown mount option '\(option)'")
                    }
                    ignored.append(option)
                }
            }
        }
    }

    private static func split(_ option: String) -> (String, String?) {
        guard let equals = option.firstIndex(of: "=") else { return (option, nil) }
        return (String(option[..<equals]), String(option[option.index(after: equals)...]))
    }
}

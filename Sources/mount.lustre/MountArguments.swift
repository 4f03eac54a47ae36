#if canImport(Glibc)
import Glibc
#endif
import LNet
import LibCFS
import ObdClass

/// `mount.lustre MGSNID[:MGSNID…]:/FSNAME[/SUBDIR] MOUNTPOINT [-o OPTIONS] [-v] [-f] [-n] [-s]`, as
/// mount(8) calls a helper (`/sbin/mount.lustre SPEC DIR -o OPTS`).
struct MountArguments {
    /// The MGS's NIDs: several per node separated by ',', failover nodes by ':'.
    var mgsNIDs: [NID] = []
    var fsname = ""
    /// The directory below the filesystem's root to mount instead of the root (Lustre's fileset,
    /// `FSNAME/SUBDIR`), one name per element; empty for the root.
    var fileset: [String] = []
    /// The spec as given, shown as the mount's source (`df`, /proc/mounts).
    var spec = ""
    var mountpoint = ""
    var options = MountOptions()
    /// mount's `-f`: do everything but the mount.
    var fake = false
    var verbose = false

    static let usage = """
        usage: mount.lustre [-fnsv] [-o OPTIONS] MGSNID[:MGSNID...]:/FSNAME[/SUBDIR] MOUNTPOINT
          MGSNID    the MGS's NID, e.g. 127.0.0.1@tcp (several NIDs of one node: a,b; failover nodes: a:b)
          SUBDIR    a directory of the filesystem to mount instead of its root (a fileset)
          options   foreground, ro, user_xattr|nouser_xattr, checksum|nochecksum, accept_port=N (LNet
                    acceptor port of the servers, default 988), metrics_address=HOST:PORT (Prometheus
                    metrics), direct_io|nodirect_io (file I/O without the page cache: faster large
                    transfers, slower small reads), flock|localflock|noflock and mount(8)'s
                    generic options (rw, _netdev, defaults, noauto, ...), which are accepted
        """

    init(parsing argv: [String]) throws(LustreError) {
        var positional: [String] = []
        var optionLists: [String] = []
        var sloppy = false
        var i = 0
        while i < argv.count {
            let argument = argv[i]
            i += 1
            if argument == "-o" || argument == "--options" {
                guard i < argv.count else { throw .invalid("-o needs a list of options") }
                optionLists.append(argv[i])
                i += 1
            } else if argument.hasPrefix("-o") && argument.count > 2 {
                optionLists.append(String(argument.dropFirst(2)))
            } else if argument == "-t" {
                // mount(8) may pass the type (lustre, or lustre.SUBTYPE): nothing to choose.
                i += 1
            } else if argument == "-N" {
                throw .notSupported("-N: mount namespaces are not supported")
            } else if argument.hasPrefix("-") && argument.count > 1 && !argument.hasPrefix("--") {
                for flag in argument.dropFirst() {
                    switch flag {
                    case "f": fake = true
                    case "n": break          // no /etc/mtab to write
                    case "s": sloppy = true
                    case "v": verbose = true
                    case "r": optionLists.append("ro")
                    case "w": optionLists.append("rw")
                    default: throw .invalid("unknown flag -\(flag)")
                    }
                }
            } else if argument.hasPrefix("--") {
                throw .invalid("unknown option \(argument)")
            } else {
                positional.append(argument)
            }
        }
        guard positional.count == 2 else {
            throw .invalid(positional.count < 2 ? "missing \(positional.isEmpty ? "MGSNID:/FSNAME and " : "")MOUNTPOINT"
                                                 : "unexpected argument '\(positional[2])'")
        }
        spec = positional[0]
        mountpoint = positional[1]
        (mgsNIDs, fsname, fileset) = try Self.parseSpec(spec)
        options = try MountOptions(parsing: optionLists, sloppy: sloppy)
    }

    /// Splits `127.0.0.1@tcp:/testfs/sub/dir` into NIDs, the filesystem name and the fileset's
    /// names (`sub`, `dir`; none for the root). A fileset of `.` or `..` names is refused.
    static func parseSpec(_ spec: String) throws(LustreError) -> ([NID], String, [String]) {
        guard let marker = spec.firstRange(of: ":/") else {
            throw .invalid("'\(spec)' is not MGSNID:/FSNAME (e.g. 127.0.0.1@tcp:/testfs)")
        }
        let path = spec[marker.upperBound...]
        let fsname = String(path.prefix(while: { $0 != "/" }))
        let fileset = path.dropFirst(fsname.count).split(separator: "/").map(String.init)
        for name in fileset {
            guard name != "." && name != ".." else {
                throw .invalid("'\(spec)': a fileset is a path below the root, without '.' or '..'")
            }
            guard name.utf8.count <= 255 else { throw LustreError(errno: ENAMETOOLONG, "'\(name)' in '\(spec)'") }
        }
        _ = try TargetName(fsname: fsname, kind: .mdt, index: 0)   // validates the name
        var nids: [NID] = []
        for node in spec[..<marker.lowerBound].split(separator: ":") {
            for text in node.split(separator: ",") {
                let nid = try NID(parsing: String(text))
                if !nids.contains(nid) { nids.append(nid) }
            }
        }
        guard !nids.isEmpty else { throw .invalid("'\(spec)': no MGS NID before ':/'") }
        return (nids, fsname, fileset)
    }
}

import LibCFS

#if canImport(Glibc)
import Glibc
#endif

/// The node's LNet networks as configured the way Lustre configures them:
/// `options lnet networks="tcp0(eth0),tcp1(eth1)"` in `/etc/lustre/lustre.conf`
/// (or `/etc/modprobe.d/lustre.conf`), else `tcp` on the first non-loopback
/// IPv4 interface, else `127.0.0.1@tcp`.
public enum LNetNetworks {
    public static let configFiles = ["/etc/lustre/lustre.conf", "/etc/modprobe.d/lustre.conf"]

    /// The NIDs this node answers to, in configuration order.
    public static func localNIDs(configFiles: [String] = configFiles) throws(LustreError) -> [NID] {
        let interfaces = ipv4Interfaces()
        for path in configFiles {
            guard let text = readFile(path), let spec = networksOption(in: text) else { continue }
            return try parse(spec, interfaces: interfaces, source: path)
        }
        if let first = interfaces.first(where: { $0.name != "lo" }) {
            return [NID(address: first.address)]
        }
        return [NID(address: 0x7f00_0001)]
    }

    /// The NID a server serves at: `given` (its `--nid`), else the first this node answers to.
    public static func serverNID(_ given: String?) throws(LustreError) -> NID {
        if let given { return try NID(parsing: given) }
        guard let first = try localNIDs().first else {
            throw .invalid("no NID: give --nid, or 'options lnet networks=' in /etc/lustre/lustre.conf")
        }
        return first
    }

    /// Parses a `networks=` value such as `tcp0(eth0),tcp1(eth1)` or `tcp`.
    public static func parse(_ spec: String, interfaces: [(name: String, address: UInt32)],
                             source: String = "networks") throws(LustreError) -> [NID] {
        var nids: [NID] = []
        for item in spec.split(separator: ",").map({ $0.trimmingCharacters(in: " \t\"") }) where !item.isEmpty {
            var network = item
            var interfaceName: String?
            if let open = item.firstIndex(of: "("), item.hasSuffix(")") {
                network = String(item[..<open])
                interfaceName = String(item[item.index(after: open)..<item.index(before: item.endIndex)])
            }
            let probe = try NID(parsing: "0.0.0.0@\(network)")
            let candidates = interfaces.filter { interfaceName == nil ? $0.name != "lo" : $0.name == interfaceName }
            guard let interface = candidates.first else {
                throw .invalid("\(source): network '\(item)': no IPv4 interface \(interfaceName ?? "other than lo")")
            }
            nids.append(NID(address: interface.address, netType: probe.netType, netNumber: probe.netNumber))
        }
        guard !nids.isEmpty else { throw .invalid("\(source): empty networks option") }
        return nids
    }

    static func networksOption(in text: String) -> String? {
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 3, words[0] == "options", words[1] == "lnet" else { continue }
            for word in words.dropFirst(2) where word.hasPrefix("networks=") {
                return String(word.dropFirst("networks=".count)).trimmingCharacters(in: "\"'")
            }
        }
        return nil
    }

    /// IPv4 interfaces that are up, in the kernel's order.
    public static func ipv4Interfaces() -> [(name: String, address: UInt32)] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var result: [(String, UInt32)] = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == UInt16(AF_INET),
                  entry.pointee.ifa_flags & UInt32(IFF_UP) != 0 else { continue }
            let ipv4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            result.append((String(cString: entry.pointee.ifa_name), ipv4))
        }
        return result
    }

    private static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}

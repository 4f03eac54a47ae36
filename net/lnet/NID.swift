import LibCFS

#if canImport(Glibc)
import Glibc
#endif

/// An LNet network identifier, `ADDR@NET`: `192.168.1.10@tcp`, `10.0.0.1@tcp1`, `0@lo`.
///
/// On the wire a NID is Lustre's 64-bit `lnet_nid_t`: the network (LND type
/// in the high 16 bits, network number in the low 16) above the address.
public struct NID: Hashable, Sendable, Comparable {
    /// The LND types this implementation speaks, numbered as Lustre numbers them.
    public enum NetType: UInt16, Sendable {
        /// The loopback LND (`0@lo`): a process talking to itself.
        case lo = 9
        /// The socket LND over TCP.
        case tcp = 2

        var name: String {
            switch self {
            case .lo: "lo"
            case .tcp: "tcp"
            }
        }
    }

    /// The IPv4 address in host byte order (0 for `lo`).
    public var address: UInt32
    public var netType: NetType
    /// The network number: `tcp1` is 1, `tcp` is 0.
    public var netNumber: UInt16

    public init(address: UInt32, netType: NetType = .tcp, netNumber: UInt16 = 0) {
        self.address = address
        self.netType = netType
        self.netNumber = netNumber
    }

    /// `0@lo`, the NID every process has for itself.
    public static let loopback = NID(address: 0, netType: .lo)

    /// The NID that matches no peer (`LNET_NID_ANY`).
    public static let any = NID(wire: .max)

    /// Parses Lustre's NID syntax; errors quote the text that was wrong.
    public init(parsing text: String) throws(LustreError) {
        guard let at = text.lastIndex(of: "@") else {
            throw .invalid("invalid NID '\(text)': expected ADDRESS@NETWORK, e.g. 192.168.1.10@tcp")
        }
        let addressText = text[..<at]
        let netText = text[text.index(after: at)...]
        guard let (type, number) = NID.parseNetwork(netText) else {
            throw .invalid("invalid NID '\(text)': unknown network '\(netText)' (expected tcp, tcpN or lo)")
        }
        switch type {
        case .lo:
            guard addressText == "0" else {
                throw .invalid("invalid NID '\(text)': the loopback network only has address 0 (0@lo)")
            }
            self.init(address: 0, netType: .lo, netNumber: number)
        case .tcp:
            guard let address = NID.parseIPv4(addressText) else {
                throw .invalid("invalid NID '\(text)': '\(addressText)' is not an IPv4 address")
            }
            self.init(address: address, netType: .tcp, netNumber: number)
        }
    }

    /// Decodes the 64-bit wire form. Unknown LND types decode as `nil`.
    public init?(validatingWire wire: UInt64) {
        let net = UInt32(truncatingIfNeeded: wire >> 32)
        guard let type = NetType(rawValue: UInt16(net >> 16)) else { return nil }
        self.init(address: UInt32(truncatingIfNeeded: wire), netType: type,
                  netNumber: UInt16(truncatingIfNeeded: net))
    }

    init(wire: UInt64) {
        self = NID(validatingWire: wire) ?? NID(address: .max, netType: .tcp, netNumber: .max)
    }

    /// The 64-bit `lnet_nid_t` form.
    public var wire: UInt64 {
        (UInt64(netType.rawValue) << 48) | (UInt64(netNumber) << 32) | UInt64(address)
    }

    /// The network part (`tcp`, `tcp1`, `lo`).
    public var network: String {
        netNumber == 0 ? netType.name : "\(netType.name)\(netNumber)"
    }

    /// The dotted-quad address for `tcp` NIDs.
    public var ipv4String: String {
        "\(address >> 24).\((address >> 16) & 0xff).\((address >> 8) & 0xff).\(address & 0xff)"
    }

    public static func < (lhs: NID, rhs: NID) -> Bool { lhs.wire < rhs.wire }

    private static func parseNetwork(_ text: Substring) -> (NetType, UInt16)? {
        for type in [NetType.tcp, .lo] where text.hasPrefix(type.name) {
            let digits = text.dropFirst(type.name.count)
            if digits.isEmpty { return (type, 0) }
            guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                  let number = UInt16(digits) else { return nil }
            return (type, number)
        }
        return nil
    }

    private static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var address: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let octet = UInt32(part), octet <= 255 else { return nil }
            address = address << 8 | octet
        }
        return address
    }
}

extension NID: CustomStringConvertible, LosslessStringConvertible {
    public var description: String {
        switch netType {
        case .lo: "0@\(network)"
        case .tcp: "\(ipv4String)@\(network)"
        }
    }

    public init?(_ description: String) {
        guard let nid = try? NID(parsing: description) else { return nil }
        self = nid
    }
}

/// An LNet process identifier: a NID and the process id on that node (`lnet_process_id`).
public struct ProcessID: Hashable, Sendable, CustomStringConvertible {
    public var nid: NID
    public var pid: UInt32

    /// Lustre's own servers and clients use this pid (`LNET_PID_LUSTRE`).
    public static let lustrePID: UInt32 = 12345

    public init(nid: NID, pid: UInt32 = ProcessID.lustrePID) {
        self.nid = nid
        self.pid = pid
    }

    /// Printed as `lctl ping` does: `12345-192.168.3.105@tcp`.
    public var description: String { "\(pid)-\(nid)" }
}

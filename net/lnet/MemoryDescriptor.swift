import LibCFS
import NIOCore

/// A PUT that landed in a sink memory descriptor.
public struct LNetDelivery: Sendable {
    /// Who sent it.
    public var initiator: ProcessID
    public var matchBits: UInt64
    public var headerData: UInt64
    /// The bytes, handed over without a copy: the sink owns them from here on.
    public var payload: ByteBuffer
    /// Returns the receive credit the message holds on its connection. Until it
    /// is called, the message counts against what the connection may buffer, so
    /// a consumer that falls behind stops the peer's socket instead of growing.
    public var release: @Sendable () -> Void
}

/// A memory descriptor (`lnet_md`): what an incoming PUT or GET matched on a portal does.
///
/// LNet proper copies into posted buffers; here the payload buffer itself is
/// handed to the sink, which is how data goes from the socket to the disk
/// without another copy.
public struct MemoryDescriptor: Sendable {
    public enum Kind: Sendable {
        /// Takes incoming PUTs of at most `maxLength` bytes.
        case sink(maxLength: Int, handler: @Sendable (LNetDelivery) -> Void)
        /// Serves incoming GETs from the concatenation of `parts` (sent as they are, without a
        /// copy into one buffer); `onGet` runs once the data is sent.
        case source([ByteBuffer], onGet: (@Sendable (ProcessID) -> Void)?)
    }

    public var kind: Kind
    /// How many operations before the descriptor unlinks itself; `nil` means never.
    public var threshold: Int?
    /// Accept operations only from this peer (`nil`: anyone), as Lustre matches on the peer id.
    public var peer: ProcessID?

    public init(kind: Kind, threshold: Int? = 1, peer: ProcessID? = nil) {
        self.kind = kind
        self.threshold = threshold
        self.peer = peer
    }

    public static func sink(maxLength: Int, threshold: Int? = 1, peer: ProcessID? = nil,
                            handler: @escaping @Sendable (LNetDelivery) -> Void) -> MemoryDescriptor {
        MemoryDescriptor(kind: .sink(maxLength: maxLength, handler: handler), threshold: threshold, peer: peer)
    }

    public static func source(_ buffer: ByteBuffer, threshold: Int? = 1, peer: ProcessID? = nil,
                              onGet: (@Sendable (ProcessID) -> Void)? = nil) -> MemoryDescriptor {
        MemoryDescriptor(kind: .source([buffer], onGet: onGet), threshold: threshold, peer: peer)
    }

    /// Serves GETs from the concatenation of `parts`, each sent from its own memory.
    public static func source(parts: [ByteBuffer], threshold: Int? = 1, peer: ProcessID? = nil,
                              onGet: (@Sendable (ProcessID) -> Void)? = nil) -> MemoryDescriptor {
        MemoryDescriptor(kind: .source(parts, onGet: onGet), threshold: threshold, peer: peer)
    }
}

/// Names an attached descriptor so it can be unlinked.
public struct MDHandle: Hashable, Sendable {
    let portal: UInt32
    let matchBits: UInt64
    let id: UInt64
}

/// The match table: per portal, match entries keyed by exact match bits (the
/// common case: an xid) plus wildcard entries tried in attach order.
struct PortalTable {
    private struct Entry {
        var id: UInt64
        var matchBits: UInt64
        var ignoreBits: UInt64
        var md: MemoryDescriptor
    }

    private var exact: [UInt32: [UInt64: [Entry]]] = [:]
    private var wildcard: [UInt32: [Entry]] = [:]
    private var nextID: UInt64 = 1

    mutating func attach(portal: UInt32, matchBits: UInt64, ignoreBits: UInt64, md: MemoryDescriptor) -> MDHandle {
        let id = nextID
        nextID += 1
        let entry = Entry(id: id, matchBits: matchBits & ~ignoreBits, ignoreBits: ignoreBits, md: md)
        if ignoreBits == 0 {
            exact[portal, default: [:]][matchBits, default: []].append(entry)
        } else {
            wildcard[portal, default: []].append(entry)
        }
        return MDHandle(portal: portal, matchBits: matchBits, id: id)
    }

    @discardableResult
    mutating func unlink(_ handle: MDHandle) -> Bool {
        if let index = exact[handle.portal]?[handle.matchBits]?.firstIndex(where: { $0.id == handle.id }) {
            exact[handle.portal]![handle.matchBits]!.remove(at: index)
            if exact[handle.portal]![handle.matchBits]!.isEmpty { exact[handle.portal]![handle.matchBits] = nil }
            return true
        }
        if let index = wildcard[handle.portal]?.firstIndex(where: { $0.id == handle.id }) {
            wildcard[handle.portal]!.remove(at: index)
            return true
        }
        return false
    }

    /// Finds the descriptor an operation lands in and consumes one use of it.
    mutating func match(portal: UInt32, matchBits: UInt64, from initiator: ProcessID) -> MemoryDescriptor? {
        // Entries are consumed in place in the tables (a copy of the list would be
        // copied again on write): this runs for every message delivered.
        if let index = exact[portal]?[matchBits]?.firstIndex(where: { $0.md.peer == nil || $0.md.peer == initiator }) {
            let md = Self.consume(&exact[portal]![matchBits]!, at: index)
            if exact[portal]![matchBits]!.isEmpty { exact[portal]![matchBits] = nil }
            return md
        }
        guard let index = wildcard[portal]?.firstIndex(where: {
                  ($0.matchBits == matchBits & ~$0.ignoreBits) && ($0.md.peer == nil || $0.md.peer == initiator)
              })
        else { return nil }
        return Self.consume(&wildcard[portal]!, at: index)
    }

    /// Uses up one operation of the entry's threshold, unlinking it at zero.
    private static func consume(_ entries: inout [Entry], at index: Int) -> MemoryDescriptor {
        let md = entries[index].md
        if let threshold = md.threshold {
            if threshold <= 1 {
                entries.remove(at: index)
            } else {
                entries[index].md.threshold = threshold - 1
            }
        }
        return md
    }
}

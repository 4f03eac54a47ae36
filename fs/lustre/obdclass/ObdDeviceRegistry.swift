import LibCFS
import Synchronization

/// One row of `lctl dl`: an obd device set up in this process.
public struct ObdDeviceEntry: Sendable, Equatable {
    /// The device's slot (`obd_minor`): the lowest free index when it registered.
    public var index: Int
    /// `UP` while set up (a registered device is always up; it leaves the list when cleaned up).
    public var status: String
    /// The obd type: `mgs`, `mgc`, `mdt`, `mds`, `mdd`, `lod`, `osp`, `obdfilter`, `ost`, `lov`,
    /// `mdc`, `osc`, `llite`…
    public var type: String
    /// `testfs-OST0000`, `testfs-OST0000-osc-ffff8800…`.
    public var name: String
    /// `testfs-OST0000_UUID`.
    public var uuid: String
    /// References held on the device (`obd_refcount`): 1 for the device itself plus what its
    /// owner reports (exports, users).
    public var refcount: Int

    /// An entry; `status` defaults to `UP`.
    public init(index: Int, status: String = "UP", type: String, name: String, uuid: String, refcount: Int) {
        self.index = index
        self.status = status
        self.type = type
        self.name = name
        self.uuid = uuid
        self.refcount = refcount
    }

    /// The row exactly as Lustre's `lctl dl` prints it:
    /// `  2 UP obdfilter testfs-OST0000 testfs-OST0000_UUID 3`.
    public var line: String {
        let idx = String(index)
        let pad = String(repeating: " ", count: max(0, 3 - idx.count))
        return "\(pad)\(idx) \(status) \(type) \(name) \(uuid) \(refcount)"
    }
}

/// The process's obd devices (Lustre's `obd_devs` array), listed by `lctl dl` through the
/// admin socket.
///
/// A component registers each device when it is set up and keeps the returned
/// `ObdDeviceRegistration`; the device leaves the list when the registration is unregistered
/// or released.  Indices are allocated as Lustre's `class_newdev` does: the lowest free slot.
///
/// ```swift
/// let obd = ObdDeviceRegistry.shared.register(type: "obdfilter", name: "testfs-OST0000",
///                                             uuid: "testfs-OST0000_UUID")
/// ...
/// obd.unregister()
/// ```
public final class ObdDeviceRegistry: Sendable {
    fileprivate struct Slot: Sendable {
        let id: UInt64
        let type: String
        let name: String
        let uuid: String
        let references: (@Sendable () -> Int)?
    }

    private struct State {
        var slots: [Slot?] = []
        var nextID: UInt64 = 1
    }

    private let state = Mutex(State())

    /// The process's registry (the one `lctl dl` lists).
    public static let shared = ObdDeviceRegistry()

    /// An empty registry (tests); components use `shared`.
    public init() {}

    /// Adds a device in the lowest free slot.  `references`, when given, reports the references
    /// held on the device besides its own (exports connected, users), read at each `lctl dl`.
    /// Registering a second device of the same name is allowed (in-process tests run several
    /// servers); `lctl dl` then lists both.
    public func register(type: String, name: String, uuid: String,
                         references: (@Sendable () -> Int)? = nil) -> ObdDeviceRegistration {
        let (id, index) = state.withLock { s -> (UInt64, Int) in
            let id = s.nextID
            s.nextID += 1
            let slot = Slot(id: id, type: type, name: name, uuid: uuid, references: references)
            if let free = s.slots.firstIndex(where: { $0 == nil }) {
                s.slots[free] = slot
                return (id, free)
            }
            s.slots.append(slot)
            return (id, s.slots.count - 1)
        }
        CDEBUG(.config, "obd device \(index) \(type) \(name) \(uuid) set up")
        return ObdDeviceRegistration(registry: self, id: id)
    }

    /// The devices, by index, as `lctl dl` lists them.
    public var devices: [ObdDeviceEntry] {
        let slots = state.withLock { s in s.slots.enumerated().compactMap { i, slot in slot.map { (i, $0) } } }
        // Reference counts are read outside the lock: the closures may take locks of their own.
        return slots.map { index, slot in
            ObdDeviceEntry(index: index, type: slot.type, name: slot.name, uuid: slot.uuid,
                           refcount: 1 + max(0, slot.references?() ?? 0))
        }
    }

    fileprivate func remove(id: UInt64) {
        let removed: Slot? = state.withLock { s in
            guard let i = s.slots.firstIndex(where: { $0?.id == id }) else { return nil }
            let slot = s.slots[i]
            s.slots[i] = nil
            while let last = s.slots.last, last == nil { s.slots.removeLast() }
            return slot
        }
        if let removed { CDEBUG(.config, "obd device \(removed.type) \(removed.name) cleaned up") }
    }
}

/// A device's place in the `ObdDeviceRegistry`: `unregister()` (or releasing the last
/// reference) removes it from `lctl dl`.
public final class ObdDeviceRegistration: Sendable {
    private let registry: ObdDeviceRegistry
    private let id: UInt64
    private let done = Atomic<Bool>(false)

    fileprivate init(registry: ObdDeviceRegistry, id: UInt64) {
        self.registry = registry
        self.id = id
    }

    /// Removes the device from the list; later calls do nothing.
    public func unregister() {
        guard !done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        registry.remove(id: id)
    }

    deinit { unregister() }
}

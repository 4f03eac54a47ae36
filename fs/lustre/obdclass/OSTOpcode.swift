/// The opcodes of the OST service (`enum ost_cmd` in `lustre_idl.h`), with Lustre's values so
/// a packet capture reads the same.
public enum OSTOpcode: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case getattr = 1
    case setattr = 2
    case read = 3
    case write = 4
    case create = 5
    case destroy = 6
    case connect = 8
    case disconnect = 9
    case punch = 10
    case statfs = 13
    case sync = 16
    /// `OST_FALLOCATE`: preallocate a range of an object (`fallocate(2)` mode 0 or `KEEP_SIZE`).
    case fallocate = 22
    /// `OST_SEEK`: the next data or hole of an object at or after an offset (`lseek(2)`
    /// `SEEK_DATA`/`SEEK_HOLE`).
    case seek = 23
    /// `OBD_PING`, shared by every service.
    case ping = 400

    /// The name Lustre's stats and debug log use (`ost_write`, `obd_ping`).
    public var description: String {
        switch self {
        case .getattr: "ost_getattr"
        case .setattr: "ost_setattr"
        case .read: "ost_read"
        case .write: "ost_write"
        case .create: "ost_create"
        case .destroy: "ost_destroy"
        case .connect: "ost_connect"
        case .disconnect: "ost_disconnect"
        case .punch: "ost_punch"
        case .statfs: "ost_statfs"
        case .sync: "ost_sync"
        case .fallocate: "ost_fallocate"
        case .seek: "ost_seek"
        case .ping: "obd_ping"
        }
    }
}

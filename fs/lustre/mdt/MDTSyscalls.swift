import Glibc
import LibCFS

/// The Linux calls the MDT needs that Swift's Glibc module does not import: the xattr family
/// (`<sys/xattr.h>` is not in its module map), `name_to_handle_at`/`open_by_handle_at` (a struct
/// with a flexible array member) and `getdents64`. They are looked up once in the loaded libc.
///
/// Path-taking xattr calls are used with `/proc/self/fd/N` for inodes held by `O_PATH`
/// descriptors (which the f*xattr calls refuse); the kernel resolves that magic link to the inode
/// itself, symlinks included.
enum MDTSyscalls {
    private typealias SetX = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    private typealias GetX = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    private typealias ListX = @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<CChar>?, Int) -> Int
    private typealias RemoveX = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>) -> Int32
    private typealias FSetX = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    private typealias FGetX = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    private typealias FRemoveX = @convention(c) (Int32, UnsafePointer<CChar>) -> Int32
    private typealias NameToHandle = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer, UnsafeMutablePointer<Int32>, Int32) -> Int32
    private typealias OpenByHandle = @convention(c) (Int32, UnsafeMutableRawPointer, Int32) -> Int32
    private typealias GetDents = @convention(c) (Int32, UnsafeMutableRawPointer, Int) -> Int

    private static func symbol<T>(_ name: String, _ type: T.Type) -> T? {
        dlsym(nil, name).map { unsafeBitCast($0, to: T.self) }
    }
    private static let setX = symbol("setxattr", SetX.self)
    private static let lsetX = symbol("lsetxattr", SetX.self)
    private static let fsetX = symbol("fsetxattr", FSetX.self)
    private static let fgetX = symbol("fgetxattr", FGetX.self)
    private static let fremoveX = symbol("fremovexattr", FRemoveX.self)
    private static let getX = symbol("getxattr", GetX.self)
    private static let lgetX = symbol("lgetxattr", GetX.self)
    private static let listX = symbol("listxattr", ListX.self)
    private static let removeX = symbol("removexattr", RemoveX.self)
    private static let nameToHandle = symbol("name_to_handle_at", NameToHandle.self)
    private static let openByHandle = symbol("open_by_handle_at", OpenByHandle.self)
    private static let getDents = symbol("getdents64", GetDents.self)

    static let xattrCreate: Int32 = 1    // XATTR_CREATE
    static let xattrReplace: Int32 = 2   // XATTR_REPLACE
    static let atEmptyPath: Int32 = 0x1000
    static let oTmpfile: Int32 = 0o20000000 | O_DIRECTORY
    static let renameNoReplace: UInt32 = 1
    /// Largest xattr value the MDT reads (ext4 keeps xattrs within one block).
    static let maxXattrSize = 65536

    /// The path under which the kernel reaches the inode of `fd`.
    static func procPath(_ fd: Int32) -> String { "/proc/self/fd/\(fd)" }

    /// Sets xattr `name` on the inode at `path` (following a final magic link); 0 or the errno.
    static func setxattr(_ path: String, _ name: String, _ value: [UInt8], flags: Int32 = 0,
                         noFollow: Bool = false) -> Int32 {
        guard let call = noFollow ? lsetX : setX else { return ENOTSUP }
        return value.withUnsafeBytes { call(path, name, $0.baseAddress, $0.count, flags) } == 0 ? 0 : errno
    }

    /// Sets xattr `name` on the open file `fd`; 0 or the errno.
    static func fsetxattr(_ fd: Int32, _ name: String, _ value: [UInt8]) -> Int32 {
        guard let fsetX else { return ENOTSUP }
        return value.withUnsafeBytes { fsetX(fd, name, $0.baseAddress, $0.count, 0) } == 0 ? 0 : errno
    }

    /// Reads xattr `name` of the open (not `O_PATH`) file `fd`, like `getxattr`.
    static func fgetxattr(_ fd: Int32, _ name: String) -> Result<[UInt8], LustreError> {
        guard let fgetX else { return .failure(LustreError(errno: ENOTSUP, "fgetxattr")) }
        var size = 256
        while true {
            var buffer = [UInt8](repeating: 0, count: size)
            let n = buffer.withUnsafeMutableBytes { fgetX(fd, name, $0.baseAddress, $0.count) }
            if n >= 0 { return .success(Array(buffer[0..<n])) }
            let error = errno
            if error == ERANGE && size < maxXattrSize { size = maxXattrSize; continue }
            return .failure(LustreError(errno: error, "getxattr \(name)"))
        }
    }

    /// Removes xattr `name` of the open (not `O_PATH`) file `fd`; 0 or the errno.
    static func fremovexattr(_ fd: Int32, _ name: String) -> Int32 {
        guard let fremoveX else { return ENOTSUP }
        return fremoveX(fd, name) == 0 ? 0 : errno
    }


    /// Reads xattr `name`; the value or the errno (`ENODATA` when absent).
    static func getxattr(_ path: String, _ name: String, noFollow: Bool = false) -> Result<[UInt8], LustreError> {
        guard let call = noFollow ? lgetX : getX else { return .failure(LustreError(errno: ENOTSUP, "getxattr")) }
        var size = 256
        while true {
            var buffer = [UInt8](repeating: 0, count: size)
            let n = buffer.withUnsafeMutableBytes { call(path, name, $0.baseAddress, $0.count) }
            if n >= 0 { return .success(Array(buffer[0..<n])) }
            let error = errno
            if error == ERANGE && size < maxXattrSize { size = maxXattrSize; continue }
            return .failure(LustreError(errno: error, "getxattr \(name)"))
        }
    }

    /// The xattr names of the inode at `path`.
    static func listxattr(_ path: String) -> Result<[String], LustreError> {
        guard let listX else { return .failure(LustreError(errno: ENOTSUP, "listxattr")) }
        var buffer = [CChar](repeating: 0, count: maxXattrSize)
        let n = buffer.withUnsafeMutableBufferPointer { listX(path, $0.baseAddress, $0.count) }
        guard n >= 0 else { return .failure(LustreError.fromErrno("listxattr")) }
        var names: [String] = []
        var start = 0
        for i in 0..<n where buffer[i] == 0 {
            let bytes = buffer[start..<i].map { UInt8(bitPattern: $0) }
            if !bytes.isEmpty { names.append(String(decoding: bytes, as: UTF8.self)) }
            start = i + 1
        }
        return .success(names)
    }

    /// Removes xattr `name`; 0 or the errno.
    static func removexattr(_ path: String, _ name: String) -> Int32 {
        guard let removeX else { return ENOTSUP }
        return removeX(path, name) == 0 ? 0 : errno
    }

    /// The ext4 file handle (inode number and generation) of `fd`, as bytes: handle type (4, LE)
    /// then the handle. Survives renames; goes stale when the inode is freed.
    static func handle(of fd: Int32) -> Result<[UInt8], LustreError> {
        guard let nameToHandle else { return .failure(LustreError(errno: ENOTSUP, "name_to_handle_at")) }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 8 + 128, alignment: 8)
        defer { raw.deallocate() }
        raw.storeBytes(of: UInt32(128), as: UInt32.self)
        var mountID: Int32 = 0
        guard nameToHandle(fd, "", raw, &mountID, atEmptyPath) == 0 else {
            return .failure(LustreError.fromErrno("name_to_handle_at"))
        }
        let length = Int(raw.load(as: UInt32.self))
        let type = raw.load(fromByteOffset: 4, as: Int32.self)
        var bytes = withUnsafeBytes(of: UInt32(bitPattern: type).littleEndian) { Array($0) }
        bytes += UnsafeRawBufferPointer(start: raw + 8, count: min(length, 128))
        return .success(bytes)
    }

    /// Opens the inode named by `handle` (from `handle(of:)`) on the filesystem of `mountFD`;
    /// the descriptor, or the errno (`ESTALE` once the inode is gone).
    static func open(handle: [UInt8], mountFD: Int32, flags: Int32) -> Result<Int32, LustreError> {
        guard let openByHandle else { return .failure(LustreError(errno: ENOTSUP, "open_by_handle_at")) }
        guard handle.count >= 4, handle.count - 4 <= 128 else {
            return .failure(LustreError(errno: EINVAL, "file handle of \(handle.count) bytes"))
        }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 8 + 128, alignment: 8)
        defer { raw.deallocate() }
        raw.storeBytes(of: UInt32(handle.count - 4), as: UInt32.self)
        let type = handle.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        raw.storeBytes(of: Int32(bitPattern: UInt32(littleEndian: type)), toByteOffset: 4, as: Int32.self)
        handle.withUnsafeBytes { (raw + 8).copyMemory(from: $0.baseAddress! + 4, byteCount: handle.count - 4) }
        let fd = openByHandle(mountFD, raw, flags)
        return fd >= 0 ? .success(fd) : .failure(LustreError.fromErrno("open_by_handle_at"))
    }

    /// `getdents64` into `buffer`; bytes read, 0 at the end, or -errno.
    static func getdents(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let getDents else { return -Int(ENOSYS) }
        let n = getDents(fd, buffer.baseAddress!, buffer.count)
        return n >= 0 ? n : -Int(errno)
    }
}

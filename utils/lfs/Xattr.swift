import LibCFS

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Extended attributes of a path: how lfs asks the mount (utils/lfs/README.md).
///
/// Swift's Glibc module does not import `<sys/xattr.h>`, so the libc functions are looked up
/// in the loaded libc and called through C function pointers (as the OSD does).
enum Xattr {
    private typealias GetFunction = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    private typealias SetFunction = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    private static let getFunction: GetFunction? = dlsym(nil, "getxattr").map { unsafeBitCast($0, to: GetFunction.self) }
    private static let setFunction: SetFunction? = dlsym(nil, "setxattr").map { unsafeBitCast($0, to: SetFunction.self) }
    private typealias RemoveFunction = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>) -> Int32
    private static let removeFunction: RemoveFunction? = dlsym(nil, "removexattr").map {
        unsafeBitCast($0, to: RemoveFunction.self)
    }

    /// `XATTR_CREATE`: fail with EEXIST if the attribute (or, for `lustre.setstripe.NAME`, the file) exists.
    static let create: Int32 = 1

    /// Room for most values, so one call does (each is a FUSE round trip, and `lustre.check`
    /// pings every target per call); a bigger value is sized first.
    private static let firstTry = 16 * 1024

    static func get(_ path: String, _ name: String) throws(LustreError) -> [UInt8] {
        guard let getFunction else { throw LustreError(errno: ENOTSUP, "getxattr is not available") }
        var failure: Int32 = 0
        let value = [UInt8](unsafeUninitializedCapacity: firstTry) { buffer, count in
            let got = getFunction(path, name, buffer.baseAddress, buffer.count)
            if got < 0 { failure = errno }
            count = max(got, 0)
        }
        if failure == 0 { return value }
        guard failure == ERANGE else { throw LustreError(errno: failure, "'\(path)'") }
        while true {
            let size = getFunction(path, name, nil, 0)
            guard size >= 0 else { throw LustreError.fromErrno("'\(path)'") }
            var value = [UInt8](repeating: 0, count: max(size, 1))
            let got = value.withUnsafeMutableBytes { getFunction(path, name, $0.baseAddress, $0.count) }
            if got >= 0 { return Array(value.prefix(got)) }
            // The value grew between the two calls: ask again.
            guard errno == ERANGE else { throw LustreError.fromErrno("'\(path)'") }
        }
    }

    static func getText(_ path: String, _ name: String) throws(LustreError) -> String {
        String(decoding: try get(path, name), as: UTF8.self)
    }

    static func set(_ path: String, _ name: String, _ value: [UInt8], flags: Int32 = 0) throws(LustreError) {
        guard let setFunction else { throw LustreError(errno: ENOTSUP, "setxattr is not available") }
        let rc = value.withUnsafeBytes { setFunction(path, name, $0.baseAddress, $0.count, flags) }
        guard rc == 0 else { throw LustreError.fromErrno("'\(path)'") }
    }

    static func remove(_ path: String, _ name: String) throws(LustreError) {
        guard let removeFunction else { throw LustreError(errno: ENOTSUP, "removexattr is not available") }
        guard removeFunction(path, name) == 0 else { throw LustreError.fromErrno("'\(path)'") }
    }
}

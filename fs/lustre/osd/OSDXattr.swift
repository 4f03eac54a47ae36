import Glibc
import LibCFS

/// `fsetxattr`/`fgetxattr`, which Swift's Glibc module does not import (`<sys/xattr.h>` is not
/// in its module map).
///
/// They are plain libc functions, so they are looked up once in the already-loaded libc and
/// called through C function pointers: no new C module for two calls.
enum OSDXattr {
    private typealias SetFunction = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    private typealias GetFunction = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int

    private static let setFunction: SetFunction? = dlsym(nil, "fsetxattr").map { unsafeBitCast($0, to: SetFunction.self) }
    private static let getFunction: GetFunction? = dlsym(nil, "fgetxattr").map { unsafeBitCast($0, to: GetFunction.self) }

    /// Sets xattr `name` of `fd`; 0 or the errno.
    static func set(_ fd: Int32, _ name: String, _ value: UnsafeRawBufferPointer) -> Int32 {
        guard let setFunction else { return ENOTSUP }
        return setFunction(fd, name, value.baseAddress, value.count, 0) == 0 ? 0 : errno
    }

    /// Reads xattr `name` of `fd` into `buffer`; the length, or -errno.
    static func get(_ fd: Int32, _ name: String, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let getFunction else { return -Int(ENOTSUP) }
        let n = getFunction(fd, name, buffer.baseAddress, buffer.count)
        return n >= 0 ? n : -Int(errno)
    }
}

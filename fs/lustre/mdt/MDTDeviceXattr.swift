import Glibc
import LibCFS
import NIOCore
import ObdClass

extension MDTDevice {
    /// The layout's xattr name as clients see it.
    public static let layoutXattrName = "lustre.lov"

    private func isLayoutName(_ name: String) -> Bool { name == Self.layoutXattrName || name == "trusted.lov" }

    /// The MDT's own xattrs (FID, names, size on MDS): never set or removed through the API.
    private func isInternal(_ name: String) -> Bool {
        name == tree.lmaName || name == tree.linkName || name == tree.somName || name == tree.lovName
            || name.hasPrefix("user.lustre.") || name == "trusted.lustre_probe"
    }

    private enum Namespace { case user, trusted, security }

    private func namespace(_ name: String) throws(LustreError) -> Namespace {
        guard name.utf8.count <= 255 else { throw LustreError(errno: ERANGE, "xattr name of \(name.utf8.count) bytes") }
        if name.hasPrefix("user."), name.count > 5 { return .user }
        if name.hasPrefix("trusted."), name.count > 8 { return .trusted }
        if name.hasPrefix("security."), name.count > 9 { return .security }
        throw LustreError(errno: EOPNOTSUPP, "xattr namespace of '\(name)'")
    }

    /// An xattr of `fid`: `lustre.lov` is the layout (a directory's default), `user.*` needs read
    /// permission, `trusted.*` is root's.
    public func getxattr(_ fid: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) -> [UInt8] {
        let object = try inode(fid)
        if isLayoutName(name) {
            guard let bytes = try tree.xattr(object, tree.lovName) else { throw LustreError(errno: ENODATA, "\(fid) has no layout") }
            return bytes
        }
        switch try namespace(name) {
        case .user:
            guard object.isRegular || object.isDirectory else { throw LustreError(errno: ENODATA, name) }
            try MDTPermission.check(credentials, try object.stat(), MDTPermission.read, "getxattr \(name) of \(fid)")
        case .trusted:
            guard credentials.uid == 0 else { throw LustreError(errno: ENODATA, name) }
        case .security:
            break
        }
        if name.hasPrefix("user.lustre.") { throw LustreError(errno: ENODATA, name) }
        guard let value = try tree.xattr(object, name) else { throw LustreError(errno: ENODATA, "\(name) of \(fid)") }
        return value
    }

    /// Sets an xattr (`flags`: XATTR_CREATE 1, XATTR_REPLACE 2). `lustre.lov` sets the layout
    /// (`setLayout`); `user.*` needs write permission on a file or directory, `trusted.*` and
    /// `security.*` root.
    public func setxattr(_ fid: LustreFID, name: String, value: [UInt8], flags: Int32,
                         credentials: MDTCredentials) async throws(LustreError) -> UInt64 {
        if isLayoutName(name) {
            var buffer = ByteBuffer(bytes: value)
            return try await setLayout(fid, try LustreLayout(decoding: &buffer), credentials: credentials)
        }
        guard flags & ~(MDTSyscalls.xattrCreate | MDTSyscalls.xattrReplace) == 0,
              flags != MDTSyscalls.xattrCreate | MDTSyscalls.xattrReplace else { throw .invalid("xattr flags \(flags)") }
        guard value.count <= MDTSyscalls.maxXattrSize else { throw LustreError(errno: E2BIG, "xattr of \(value.count) bytes") }
        let object = try inode(fid)
        try checkXattrWrite(object, name, credentials)
        return try await locked([fid]) { () async throws(LustreError) in
            let exists = try tree.xattr(object, name) != nil
            if flags & MDTSyscalls.xattrCreate != 0 && exists { throw LustreError(errno: EEXIST, "\(name) of \(fid)") }
            if flags & MDTSyscalls.xattrReplace != 0 && !exists { throw LustreError(errno: ENODATA, "\(name) of \(fid)") }
            return try await logged { () async throws(LustreError) in
                try await commit(.setxattr(fid: fid, name: name, value: value)).transno
            }
        }
    }

    private func checkXattrWrite(_ object: MDTInode, _ name: String, _ credentials: MDTCredentials) throws(LustreError) {
        guard !isInternal(name) else { throw LustreError(errno: EPERM, "\(name) is the MDT's own") }
        switch try namespace(name) {
        case .user:
            guard object.isRegular || object.isDirectory else {
                throw LustreError(errno: EPERM, "user xattrs only on files and directories")
            }
            try MDTPermission.check(credentials, try object.stat(), MDTPermission.write, "setxattr \(name) of \(object.fid)")
        case .trusted, .security:
            guard credentials.uid == 0 else { throw LustreError(errno: EPERM, "\(name): only root") }
        }
    }

    /// The xattr names of `fid` the caller may see, `lustre.lov` included when there is a layout.
    public func listxattr(_ fid: LustreFID, credentials: MDTCredentials) async throws(LustreError) -> [String] {
        let object = try inode(fid)
        var names = try MDTSyscalls.listxattr(object.path).get().filter { name in
            if isInternal(name) { return false }
            if name.hasPrefix("trusted.") { return credentials.uid == 0 }
            return true
        }
        if try tree.xattr(object, tree.lovName) != nil { names.append(Self.layoutXattrName) }
        return names
    }

    /// Removes an xattr (`ENODATA` if absent); `lustre.lov` of a directory drops its default.
    public func removexattr(_ fid: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) -> UInt64 {
        let object = try inode(fid)
        if isLayoutName(name) {
            guard object.isDirectory else { throw LustreError(errno: EPERM, "a file's layout cannot be removed") }
            guard try tree.xattr(object, tree.lovName) != nil else { throw LustreError(errno: ENODATA, "\(fid) has no default layout") }
            return try await setLayout(fid, LustreLayout(), credentials: credentials)
        }
        try checkXattrWrite(object, name, credentials)
        return try await locked([fid]) { () async throws(LustreError) in
            guard try tree.xattr(object, name) != nil else { throw LustreError(errno: ENODATA, "\(name) of \(fid)") }
            return try await logged { () async throws(LustreError) in
                try await commit(.setxattr(fid: fid, name: name, value: nil)).transno
            }
        }
    }
}

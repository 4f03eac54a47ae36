internal import CFuse3
import Glibc

/// What libfuse's callbacks reach through the session's userdata pointer: the filesystem and the
/// connection settings. Immutable after creation except `connection`, which only the INIT
/// callback writes (before any other request can arrive), and `session`, set once at mount
/// before the loop's threads start.
final class FuseSessionContext: @unchecked Sendable {
    let operations: any FuseOperations
    var connection: FuseConnection
    let onInitialized: @Sendable (FuseConnection) -> Void
    let initExtension: FuseInitExtension
    /// The libfuse session, for requests that arrive through io_uring.
    var session: OpaquePointer?

    init(operations: any FuseOperations, connection: FuseConnection,
         onInitialized: @escaping @Sendable (FuseConnection) -> Void) {
        self.operations = operations
        self.connection = connection
        self.onInitialized = onInitialized
        self.initExtension = FuseInitExtension(
            wantDirectIOMmap: connection.directIOAllowMmap,
            wantFlags: (connection.parallelDirectoryOperations ? FuseInitExtension.parallelDirops : 0)
                | (connection.handleKillPriv ? FuseInitExtension.handleKillPriv : 0),
            uring: connection.overIOURing ? FuseURing() : nil)
    }

    static func of(userdata: UnsafeMutableRawPointer) -> FuseSessionContext {
        Unmanaged<FuseSessionContext>.fromOpaque(userdata).takeUnretainedValue()
    }

    static func of(_ request: fuse_req_t?) -> FuseSessionContext {
        Unmanaged<FuseSessionContext>.fromOpaque(fuse_req_userdata(request)!).takeUnretainedValue()
    }
}

/// Turns a C name into a Swift string; names that are not UTF-8 are refused with `EILSEQ` rather
/// than silently altered.
private func decodeName(_ cName: UnsafePointer<CChar>?, _ request: FuseRequest) -> String? {
    guard let cName, let text = String(validatingCString: cName) else {
        request.reply(error: EILSEQ)
        return nil
    }
    return text
}

/// The C operation table: capture-less closures that find the Swift filesystem through the
/// request's userdata and call it (PLATFORM-NOTES, pitfall 3).
enum FuseOperationTable {
    static func make() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, connection in
            let context = Unmanaged<FuseSessionContext>.fromOpaque(userdata!).takeUnretainedValue()
            context.connection.apply(to: connection!)
            context.connection.directIOAllowMmap = context.initExtension.grantsDirectIOMmap
            context.connection.overIOURing = context.initExtension.grantsIOURing
            let flags = context.initExtension.grantedFlags
            context.connection.parallelDirectoryOperations = flags & FuseInitExtension.parallelDirops != 0
            context.connection.handleKillPriv = flags & FuseInitExtension.handleKillPriv != 0
            let granted = context.connection
            context.operations.initialized(granted)
            context.onInitialized(granted)
        }
        ops.destroy = { userdata in
            Unmanaged<FuseSessionContext>.fromOpaque(userdata!).takeUnretainedValue().operations.destroyed()
        }
        ops.lookup = { req, parent, cName in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.lookup(request, parent: UInt64(parent), name: name)
        }
        ops.forget = { req, node, lookups in
            FuseSessionContext.of(req).operations.forget(node: UInt64(node), lookups: lookups)
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, forgets in
            let operations = FuseSessionContext.of(req).operations
            for i in 0..<count {
                operations.forget(node: UInt64(forgets![i].ino), lookups: forgets![i].nlookup)
            }
            fuse_reply_none(req)
        }
        ops.getattr = { req, node, info in
            FuseSessionContext.of(req).operations.getattr(FuseRequest(req!), node: UInt64(node),
                                                         file: info.map(FuseFileInfo.init))
        }
        ops.setattr = { req, node, st, valid, info in
            FuseSessionContext.of(req).operations.setattr(FuseRequest(req!), node: UInt64(node),
                                                         change: FuseSetattr(st!.pointee, valid: valid),
                                                         file: info.map(FuseFileInfo.init))
        }
        ops.readlink = { req, node in
            FuseSessionContext.of(req).operations.readlink(FuseRequest(req!), node: UInt64(node))
        }
        ops.mknod = { req, parent, cName, mode, rdev in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.mknod(request, parent: UInt64(parent), name: name, mode: mode,
                                                       rdev: UInt32(truncatingIfNeeded: rdev))
        }
        ops.mkdir = { req, parent, cName, mode in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.mkdir(request, parent: UInt64(parent), name: name, mode: mode)
        }
        ops.unlink = { req, parent, cName in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.unlink(request, parent: UInt64(parent), name: name)
        }
        ops.rmdir = { req, parent, cName in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.rmdir(request, parent: UInt64(parent), name: name)
        }
        ops.symlink = { req, cTarget, parent, cName in
            let request = FuseRequest(req!)
            guard let target = decodeName(cTarget, request), let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.symlink(request, target: target, parent: UInt64(parent), name: name)
        }
        ops.rename = { req, parent, cName, newParent, cNewName, flags in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request), let newName = decodeName(cNewName, request) else { return }
            FuseSessionContext.of(req).operations.rename(request, parent: UInt64(parent), name: name,
                                                        newParent: UInt64(newParent), newName: newName, flags: flags)
        }
        ops.link = { req, node, newParent, cName in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.link(request, node: UInt64(node), newParent: UInt64(newParent),
                                                      newName: name)
        }
        ops.open = { req, node, info in
            FuseSessionContext.of(req).operations.open(FuseRequest(req!), node: UInt64(node), file: FuseFileInfo(info!))
        }
        ops.create = { req, parent, cName, mode, info in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.create(request, parent: UInt64(parent), name: name, mode: mode,
                                                        file: FuseFileInfo(info!))
        }
        ops.read = { req, node, size, offset, info in
            FuseSessionContext.of(req).operations.read(FuseRequest(req!), node: UInt64(node), size: size,
                                                      offset: UInt64(bitPattern: Int64(offset)), file: FuseFileInfo(info!))
        }
        ops.write = { req, node, buffer, size, offset, info in
            FuseSessionContext.of(req).operations.write(FuseRequest(req!), node: UInt64(node),
                                                       data: UnsafeRawBufferPointer(start: buffer, count: size),
                                                       offset: UInt64(bitPattern: Int64(offset)), file: FuseFileInfo(info!))
        }
        ops.flush = { req, node, info in
            FuseSessionContext.of(req).operations.flush(FuseRequest(req!), node: UInt64(node), file: FuseFileInfo(info!))
        }
        ops.release = { req, node, info in
            FuseSessionContext.of(req).operations.release(FuseRequest(req!), node: UInt64(node), file: FuseFileInfo(info!))
        }
        ops.fsync = { req, node, datasync, info in
            FuseSessionContext.of(req).operations.fsync(FuseRequest(req!), node: UInt64(node), dataOnly: datasync != 0,
                                                       file: FuseFileInfo(info!))
        }
        ops.fallocate = { req, node, mode, offset, length, info in
            // The kernel checked the range (offset >= 0, length > 0, no overflow) before sending it.
            FuseSessionContext.of(req).operations.fallocate(FuseRequest(req!), node: UInt64(node), mode: mode,
                                                           offset: UInt64(max(offset, 0)), length: UInt64(max(length, 0)),
                                                           file: FuseFileInfo(info!))
        }
        ops.lseek = { req, node, offset, whence, info in
            // FUSE sends only SEEK_DATA (3) and SEEK_HOLE (4), from an offset the kernel checked.
            guard whence == SEEK_DATA || whence == SEEK_HOLE else { _ = fuse_reply_err(req, EINVAL); return }
            FuseSessionContext.of(req).operations.lseek(FuseRequest(req!), node: UInt64(node),
                                                       offset: UInt64(max(offset, 0)), data: whence == SEEK_DATA,
                                                       file: FuseFileInfo(info!))
        }
        ops.opendir = { req, node, info in
            FuseSessionContext.of(req).operations.opendir(FuseRequest(req!), node: UInt64(node), file: FuseFileInfo(info!))
        }
        ops.readdir = { req, node, size, offset, info in
            FuseSessionContext.of(req).operations.readdir(FuseRequest(req!), node: UInt64(node), size: size,
                                                         offset: UInt64(bitPattern: Int64(offset)), file: FuseFileInfo(info!))
        }
        ops.releasedir = { req, node, info in
            FuseSessionContext.of(req).operations.releasedir(FuseRequest(req!), node: UInt64(node), file: FuseFileInfo(info!))
        }
        ops.statfs = { req, node in
            FuseSessionContext.of(req).operations.statfs(FuseRequest(req!), node: UInt64(node))
        }
        ops.setxattr = { req, node, cName, value, size, flags in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            let bytes = size == 0 ? [] : Array(UnsafeRawBufferPointer(start: value, count: size))
            FuseSessionContext.of(req).operations.setxattr(request, node: UInt64(node), name: name, value: bytes,
                                                          flags: flags)
        }
        ops.getxattr = { req, node, cName, size in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.getxattr(request, node: UInt64(node), name: name, size: size)
        }
        ops.listxattr = { req, node, size in
            FuseSessionContext.of(req).operations.listxattr(FuseRequest(req!), node: UInt64(node), size: size)
        }
        ops.removexattr = { req, node, cName in
            let request = FuseRequest(req!)
            guard let name = decodeName(cName, request) else { return }
            FuseSessionContext.of(req).operations.removexattr(request, node: UInt64(node), name: name)
        }
        ops.access = { req, node, mask in
            FuseSessionContext.of(req).operations.access(FuseRequest(req!), node: UInt64(node), mask: mask)
        }
        return ops
    }
}

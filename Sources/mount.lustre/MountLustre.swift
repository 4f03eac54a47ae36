import LLite
import LNet
import LibCFS
import PtlRPC
import LustreAdmin
import LustreCompat
import LustreMetrics
import MDC
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `mount.lustre MGSNID:/FSNAME MOUNTPOINT [-o OPTIONS]`: mounts a Lustre filesystem through FUSE
/// and serves it until it is unmounted (`umount MOUNTPOINT`) or the daemon gets SIGTERM.
///
/// Exit status as mount(8) expects of a helper: 0 mounted, 1 bad usage, 32 mount failure.
@main
enum MountLustre {
    static func main() async {
        let argv = Array(CommandLine.arguments.dropFirst())
        if argv.contains("-h") || argv.contains("--help") {
            print(MountArguments.usage)
            exit(0)
        }
        if argv.contains("-V") || argv.contains("--version") {
            print("mount.lustre \(LustreVersion.string)")
            exit(0)
        }
        let arguments: MountArguments
        do {
            arguments = try MountArguments(parsing: argv)
        } catch {
            fputs("mount.lustre: \(error.context)\n\(MountArguments.usage)\n", stderr)
            exit(1)
        }
        if arguments.fake { exit(0) }
        if !arguments.options.foreground {
            exit(BackgroundMount.spawnChild(arguments: argv))
        }
        LustreDebug.applyEnvironment()
        let report = ReadinessReport()
        do {
            try await serve(arguments, report: report)
            exit(0)
        } catch {
            let message = "\(arguments.spec) on \(arguments.mountpoint): \(error)"
            if let report { report.failed(message) } else { fputs("mount.lustre: \(message)\n", stderr) }
            exit(32)
        }
    }

    /// The directory a fileset names, looked up name by name from the root as root (the MDS
    /// still checks every later access against the caller): `ENOENT` or `ENOTDIR` otherwise.
    static func resolveFileset(_ fileset: [String], client: LustreClient) async throws(LustreError) -> LustreFID {
        var fid = client.rootFID
        for (depth, name) in fileset.enumerated() {
            let path = "/" + fileset[...depth].joined(separator: "/")
            let attributes: MDTAttributes
            do {
                attributes = try await client.lookup(parent: fid, name: name, credentials: .root)
            } catch {
                throw LustreError(errno: error.errno, "fileset \(path)")
            }
            guard attributes.isDirectory else { throw LustreError(errno: ENOTDIR, "fileset \(path) is not a directory") }
            fid = attributes.fid
        }
        return fid
    }

    /// Mounts, reports readiness, serves until unmounted, then flushes and disconnects.
    static func serve(_ arguments: MountArguments, report: ReadinessReport?) async throws(LustreError) {
        try checkMountpoint(arguments.mountpoint)
        var options = LustreClient.Options()
        options.checksums = arguments.options.checksums
        // Statahead results go stale no later than the kernel's cached names do.
        options.statAheadLifetime = LustreFuseFileSystem.defaultTimeout
        options.attributeLifetime = LustreFuseFileSystem.defaultTimeout
        options.acceptPort = arguments.options.acceptPort
        // `lctl set_param -P` parameters, applied at mount and at each configuration change.
        let parameters = MGCParameters()
        options.onConfiguration = { parameters.update($0) }
        let client = try await LustreClient.mount(mgs: arguments.mgsNIDs, fsname: arguments.fsname, options: options)
        let root: LustreFID
        do {
            root = try await resolveFileset(arguments.fileset, client: client)
        } catch {
            try? await client.unmount()
            throw error
        }
        let filesystem = LustreFuseFileSystem(client: client, root: root, fileset: arguments.fileset,
                                              userXattr: arguments.options.userXattr,
                                              directIO: arguments.options.directIO,
                                              directWrites: arguments.options.directWrites)
        var fuseOptions = ["subtype=lustre", "fsname=\(arguments.spec.replacing(",", with: "\\,"))"]
        // Other users reach the mount only with allow_other (root may set it); the MDS checks
        // permissions, so the kernel's default_permissions stays off.
        if geteuid() == 0 { fuseOptions.append("allow_other") }
        if arguments.options.readOnly { fuseOptions.append("ro") }
        let session: FuseLowLevelSession
        do {
            var connection = FuseConnection()
            // direct_io files stay mappable MAP_SHARED where the kernel allows it; the same
            // grant tells direct_writes that the kernel keeps cached pages coherent with them.
            connection.directIOAllowMmap = arguments.options.directIO || arguments.options.directWrites
            // Every write here changes the mtime a getattr shows, and the kernel would drop the
            // file's pages at each (a rewrite in place read every block from the OSTs again:
            // bonnie++'s rewrite ran at 1.8 MB/s). A size that changed still drops them, and
            // every open does (close-to-open); a rewrite in place by another client while the
            // file stays open here is seen at the next open, as with any write without locks.
            connection.autoInvalidateData = false
            // The MDS drops setuid/setgid at chown, the client at a write or truncate by
            // others than root (`LustreFuseFileSystem.dropPrivileges`).
            connection.handleKillPriv = true
            connection.overIOURing = arguments.options.ioURing && FuseURingParameter.enable()
            session = try FuseLowLevelSession(arguments: ["mount.lustre", "-o", fuseOptions.joined(separator: ",")],
                                              operations: filesystem, connection: connection)
            filesystem.attach(session)
            try session.mount(at: arguments.mountpoint)
        } catch {
            try? await client.unmount()
            throw error
        }
        let loop = Task { await session.run() }
        guard let connection = await session.initialized() else {
            _ = await loop.value
            session.close()
            try? await client.unmount()
            throw LustreError(errno: EIO, "the kernel did not initialise the FUSE connection")
        }
        ReadAheadTuning.apply(mountpoint: arguments.mountpoint)
        LCONSOLE("mount.lustre: \(arguments.spec) mounted on \(arguments.mountpoint) (pid \(getpid()), max_write \(connection.maxWrite)"
                 + (connection.overIOURing ? ", FUSE over io_uring)" : ")"))
        if !connection.handleKillPriv {
            // The kernel then sends the mode it computed with a write's or truncate's setattr,
            // which only the owner may set: others writing a setuid or setgid file get EPERM.
            CWARN("mount.lustre: the kernel does not let the filesystem drop setuid/setgid bits "
                  + "(FUSE_HANDLE_KILLPRIV): writes by others than the owner to such files fail")
        }
        if arguments.options.ioURing && !connection.overIOURing {
            let note = "mount.lustre: io_uring: the kernel does not offer FUSE over io_uring (Linux 6.14 with "
                + "/sys/module/fuse/parameters/enable_uring set): requests go through /dev/fuse"
            if arguments.options.ioURingAsked { CWARN(note) } else { CDEBUG(.info, note) }
        }
        if arguments.options.directWrites && !arguments.options.directIO && !connection.directIOAllowMmap {
            CWARN("mount.lustre: direct_writes: this kernel has no FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6): "
                  + "writes stay in the page cache")
        }
        if arguments.options.ignored.contains("flock") {
            // Lustre's flock asks for locks coherent across clients, which need the DLM.
            CWARN("mount.lustre: flock: file locks are local to this node, as with localflock; "
                  + "other clients do not see them (no DLM yet)")
        }
        if arguments.options.directIO {
            if connection.directIOAllowMmap {
                LCONSOLE("mount.lustre: direct_io: file I/O bypasses the page cache; shared mmap stays allowed")
            } else {
                CWARN("mount.lustre: direct_io: file I/O bypasses the page cache; this kernel refuses shared mmap "
                      + "of such files (no FUSE_DIRECT_IO_ALLOW_MMAP): mmap(MAP_SHARED) fails with ENODEV")
            }
        }
        // lctl's way in (osc.*, llite.* parameters); a mount without one still serves.
        let admin = try? AdminServer.start(runDir: AdminClient.environmentRunDir, daemon: "mount.lustre")
        defer { admin?.stop() }
        if admin == nil { CWARN("mount.lustre: no admin socket in \(AdminClient.environmentRunDir): lctl cannot reach this mount") }
        var metrics: MetricsServer?
        if let address = arguments.options.metricsAddress {
            do {
                metrics = try await MetricsServer.start(address: address)
            } catch {
                CWARN("mount.lustre: no metrics on \(address): \(error)")
            }
        }
        report?.ready()

        let stop = Task {
            await TerminationSignal.wait()
            LCONSOLE("mount.lustre: signal: unmounting \(arguments.mountpoint)")
            do { try session.unmount() } catch { CERROR("mount.lustre: \(error)") }
        }
        let status = await loop.value
        stop.cancel()
        await metrics?.stop()
        session.close()
        if status < 0 { CWARN("mount.lustre: FUSE loop ended with \(LustreError(status: status))") }
        let closeError = await filesystem.closeAll()
        do {
            try await client.unmount()
        } catch {
            throw error.adding(context: "unmount: flushing to the servers")
        }
        if let closeError { throw closeError.adding(context: "unmount: closing open files") }
        LCONSOLE("mount.lustre: \(arguments.mountpoint) unmounted")
    }

    /// An existing directory that is not already a Lustre mount.
    static func checkMountpoint(_ path: String) throws(LustreError) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw LustreError.fromErrno("mount point \(path)") }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw LustreError(errno: ENOTDIR, "mount point \(path)") }
        var resolved = path
        if let real = realpath(path, nil) {
            resolved = String(cString: real)
            free(real)
        }
        if MountTable.entries(ofType: "fuse.lustre").contains(where: { $0.mountpoint == resolved }) {
            throw LustreError(errno: EBUSY, "\(path) is already a Lustre mount")
        }
    }
}

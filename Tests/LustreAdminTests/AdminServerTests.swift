import LibCFS
import ObdClass
import Testing

@testable import LustreAdmin

#if canImport(Glibc)
import Glibc
#endif

/// A run directory of its own under /tmp, removed with everything in it.
final class TemporaryRunDir {
    let path: String
    init() {
        var template = Array("/tmp/lustre-admin-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }
    deinit {
        for name in AdminClient.socketNames(runDir: path) { unlink(path + "/" + name) }
        rmdir(path)
    }
}

/// A server over a tree and registry of its own, so tests do not see each other's parameters.
func makeServer(_ dir: TemporaryRunDir, allowedUIDs: Set<uid_t> = [0, geteuid()])
    throws -> (AdminServer, ParamTree, ObdDeviceRegistry) {
    let tree = ParamTree()
    let registry = ObdDeviceRegistry()
    let server = try AdminServer.start(runDir: dir.path, daemon: "lustre-test",
                                       commands: AdminCommands(daemon: "lustre-test", params: tree, devices: registry),
                                       allowedUIDs: allowedUIDs)
    return (server, tree, registry)
}

@Suite struct AdminServerTests {
    @Test func socketIsNamedAfterDaemonAndPidWithMode0600() throws {
        let dir = TemporaryRunDir()
        let (server, _, _) = try makeServer(dir)
        defer { server.stop() }
        #expect(server.path == "\(dir.path)/lustre-test-\(getpid()).sock")
        var info = stat()
        #expect(stat(server.path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(AdminClient.socketNames(runDir: dir.path) == ["lustre-test-\(getpid()).sock"])
    }

    @Test func stopRemovesTheSocket() throws {
        let dir = TemporaryRunDir()
        let (server, _, _) = try makeServer(dir)
        server.stop()
        #expect(AdminClient.socketNames(runDir: dir.path).isEmpty)
        #expect(errnoOf { _ = try AdminClient.send(.request("info"), to: server.path) } == ENOENT)
    }

    @Test func getParamRoundTripsOverTheSocket() throws {
        let dir = TemporaryRunDir()
        let (server, tree, _) = try makeServer(dir)
        defer { server.stop() }
        try tree.register("obdfilter.testfs-OST0000.stats", get: { "snapshot_time 1.0 secs.nsecs\nwrite_bytes 1 samples [bytes] 4096 4096 4096\n" })
        try tree.register("obdfilter.testfs-OST0001.stats", get: { "snapshot_time 2.0 secs.nsecs\n" })
        let reply = try AdminClient.send(.request("get_param", ["obdfilter.*.stats"]), to: server.path)
        #expect(reply.status == 0)
        #expect(reply.fields == ["obdfilter.testfs-OST0000.stats",
                                 "snapshot_time 1.0 secs.nsecs\nwrite_bytes 1 samples [bytes] 4096 4096 4096\n",
                                 "obdfilter.testfs-OST0001.stats", "snapshot_time 2.0 secs.nsecs\n"])
    }

    @Test func setParamChangesTheTunableAndABadValueKeepsTheOldOne() throws {
        let dir = TemporaryRunDir()
        let (server, tree, _) = try makeServer(dir)
        defer { server.stop() }
        let tunable = Tunable(8, range: 1...256)
        try tree.register("osc.testfs-OST0000-osc-ffff.max_rpcs_in_flight", tunable: tunable)
        let ok = try AdminClient.send(.request("set_param", ["osc.*.max_rpcs_in_flight", "16"]), to: server.path)
        #expect(ok.status == 0)
        #expect(ok.fields == ["osc.testfs-OST0000-osc-ffff.max_rpcs_in_flight"])
        #expect(tunable.value == 16)
        let bad = try AdminClient.send(.request("set_param", ["osc.*.max_rpcs_in_flight", "300"]), to: server.path)
        #expect(bad.status == EINVAL)
        #expect(bad.fields.first?.contains("out of range 1..256") == true)
        #expect(tunable.value == 16)
    }

    @Test func checkParamValidatesWithoutSetting() throws {
        let dir = TemporaryRunDir()
        let (server, tree, _) = try makeServer(dir)
        defer { server.stop() }
        let tunable = Tunable(32, range: 1...4096, unit: .mebibytes)
        try tree.register("osc.testfs-OST0000-osc-ffff.max_dirty_mb", tunable: tunable)
        try tree.register("osc.testfs-OST0000-osc-ffff.kbytesfree", get: { "1" })
        let ok = try AdminClient.send(.request("check_param", ["osc.*.max_dirty_mb", "1G"]), to: server.path)
        #expect(ok.status == 0)
        #expect(ok.fields == ["osc.testfs-OST0000-osc-ffff.max_dirty_mb"])
        let bad = try AdminClient.send(.request("check_param", ["osc.*.max_dirty_mb", "5000"]), to: server.path)
        #expect(bad.status == EINVAL)
        #expect(bad.fields.first?.contains("out of range 1..4096") == true)
        #expect(try AdminClient.send(.request("check_param", ["osc.*.kbytesfree", "2"]), to: server.path).status == EACCES)
        #expect(try AdminClient.send(.request("check_param", ["llite.*.x", "2"]), to: server.path).status == ENOENT)
        #expect(tunable.value == 32)
    }

    @Test func setParamPermOfADaemonWithoutAnMGSIsENODEV() throws {
        let dir = TemporaryRunDir()
        let (server, _, _) = try makeServer(dir)
        defer { server.stop() }
        #expect(try AdminClient.send(.request("set_param_perm", ["osc.*.max_dirty_mb", "64"]), to: server.path).status == ENODEV)
        #expect(try AdminClient.send(.request("del_param_perm", ["osc.*.max_dirty_mb"]), to: server.path).status == ENODEV)
    }

    @Test func unknownParameterIsENOENT() throws {
        let dir = TemporaryRunDir()
        let (server, _, _) = try makeServer(dir)
        defer { server.stop() }
        let reply = try AdminClient.send(.request("get_param", ["nosuch.*"]), to: server.path)
        #expect(reply.status == ENOENT)
    }

    @Test func listParamMarksWritableParameters() throws {
        let dir = TemporaryRunDir()
        let (server, tree, _) = try makeServer(dir)
        defer { server.stop() }
        try tree.register("a.b.ro", get: { "1" })
        try tree.register("a.b.rw", tunable: Tunable(1, range: 0...2))
        let reply = try AdminClient.send(.request("list_param", ["a.b.*"]), to: server.path)
        #expect(reply.fields == ["a.b.ro", "0", "a.b.rw", "1"])
    }

    @Test func dlListsRegisteredDevicesInLustreOrder() throws {
        let dir = TemporaryRunDir()
        let (server, _, registry) = try makeServer(dir)
        defer { server.stop() }
        let ost0 = registry.register(type: "obdfilter", name: "testfs-OST0000", uuid: "testfs-OST0000_UUID",
                                     references: { 2 })
        let ost1 = registry.register(type: "obdfilter", name: "testfs-OST0001", uuid: "testfs-OST0001_UUID")
        ost0.unregister()
        // Slot 0 is free again: the next device takes it, as class_newdev does.
        let osc = registry.register(type: "osc", name: "testfs-OST0001-osc-ffff", uuid: "testfs-clilov_UUID")
        let reply = try AdminClient.send(.request("dl"), to: server.path)
        #expect(reply.fields == ["0", "UP", "osc", "testfs-OST0001-osc-ffff", "testfs-clilov_UUID", "1",
                                 "1", "UP", "obdfilter", "testfs-OST0001", "testfs-OST0001_UUID", "1"])
        #expect(registry.devices.map(\.line) == ["  0 UP osc testfs-OST0001-osc-ffff testfs-clilov_UUID 1",
                                                 "  1 UP obdfilter testfs-OST0001 testfs-OST0001_UUID 1"])
        withExtendedLifetime((ost1, osc)) {}
    }

    @Test func malformedRequestGetsAnErrorReplyAndTheServerGoesOn() throws {
        let dir = TemporaryRunDir()
        let (server, _, _) = try makeServer(dir)
        defer { server.stop() }
        // Raw garbage on the socket: an EPROTO reply, not a crash or a hang.
        let fd = try AdminSocketIO.socket()
        var address = try AdminSocketIO.address(server.path)
        let rc = withUnsafePointer(to: &address) {
            connect(fd, __CONST_SOCKADDR_ARG(__sockaddr_un__: $0), socklen_t(MemoryLayout<sockaddr_un>.size))
        }
        #expect(rc == 0)
        try AdminSocketIO.writeAll(fd, Array("GET / HTTP/1.0\r\n\r\n".utf8))
        let reply = try AdminSocketIO.readMessage(fd, maxPayload: AdminMessage.maxReplyPayload)
        close(fd)
        #expect(reply.status == EPROTO)
        #expect(reply.fields.first?.contains("magic") == true)
        // Unknown command and wrong arity.
        #expect(try AdminClient.send(.request("format_disk"), to: server.path).status == EOPNOTSUPP)
        #expect(try AdminClient.send(.request("set_param", ["debug"]), to: server.path).status == EINVAL)
        // Still serving.
        #expect(try AdminClient.send(.request("info"), to: server.path).fields == ["lustre-test", String(getpid())])
    }

    @Test func peerOfAnotherUserIsRefused() throws {
        let dir = TemporaryRunDir()
        // Serve nobody: this process's own uid is then "another user" to the server.
        let (server, tree, _) = try makeServer(dir, allowedUIDs: [])
        defer { server.stop() }
        let tunable = Tunable(1, range: 0...9)
        try tree.register("x.y", tunable: tunable)
        let reply = try AdminClient.send(.request("set_param", ["x.y", "5"]), to: server.path)
        #expect(reply.status == EACCES)
        #expect(tunable.value == 1)
    }

    @Test func staleSocketOfADeadProcessIsRemovedAtStart() throws {
        let dir = TemporaryRunDir()
        // A pid that cannot exist (above pid_max's ceiling).
        let stale = "\(dir.path)/lustre-test-4194305.sock"
        let fd = try AdminSocketIO.socket()
        var address = try AdminSocketIO.address(stale)
        _ = withUnsafePointer(to: &address) {
            bind(fd, __CONST_SOCKADDR_ARG(__sockaddr_un__: $0), socklen_t(MemoryLayout<sockaddr_un>.size))
        }
        close(fd)
        #expect(AdminClient.socketNames(runDir: dir.path).count == 1)
        let (server, _, _) = try makeServer(dir)
        defer { server.stop() }
        #expect(AdminClient.socketNames(runDir: dir.path) == ["lustre-test-\(getpid()).sock"])
    }
}

@Suite struct SystemdNotifyTests {
    /// A datagram socket bound at `address` (a path, or @abstract), returning what it receives.
    func listen(_ address: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &sa.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let rc = withUnsafePointer(to: &sa) { bind(fd, __CONST_SOCKADDR_ARG(__sockaddr_un__: $0), length) }
        #expect(rc == 0)
        AdminSocketIO.setTimeouts(fd, seconds: 5)
        return fd
    }

    func receive(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : ""
    }

    @Test func readySentToAPathSocket() throws {
        let dir = TemporaryRunDir()
        let path = dir.path + "/notify"
        let fd = try listen(path)
        defer { close(fd); unlink(path) }
        try SystemdNotify.send("READY=1\nSTATUS=serving", to: path)
        #expect(receive(fd) == "READY=1\nSTATUS=serving")
    }

    @Test func readySentToAnAbstractSocket() throws {
        let name = "@lustre-notify-test-\(getpid())"
        let fd = try listen(name)
        defer { close(fd) }
        try SystemdNotify.send("STOPPING=1", to: name)
        #expect(receive(fd) == "STOPPING=1")
    }

    @Test func relativeNotifySocketIsRefused() {
        #expect(errnoOf { try SystemdNotify.send("READY=1", to: "relative/path") } == EINVAL)
    }
}

import LNet
import LibCFS
import LustreAdmin
import MDC
import MDT
import MGS
import ObdClass
import PtlRPC
import Synchronization

/// Everything `lustre-mds` runs on one NID, started in order and stopped in reverse: LNet, the
/// MGS (device and service), the LOD fed with OSTs as they register at the MGS, the MDT device
/// and its service.
final class MDSServer: Sendable {
    struct Options: Sendable {
        var threads = 16
        var commitInterval = 1.0
        var acceptPort = 988
        /// Lustre's `recovery_time_soft`: `MDTDevice.Options.orphanGrace` and
        /// `LODDevice.Options.replayClaimGrace`.
        var recoveryTime = 60.0
    }

    let lnet: LNetInstance
    let mgs: MGSDevice
    let mgsService: MGSService
    let lod: LODDevice
    let mdt: MDTDevice
    let mdtService: MDTService
    /// The `lctl set_param -P` parameters of this filesystem, applied to this process.
    let parameters: MGCParameters
    private let subscription: UInt64
    /// `lctl dl` rows: `mgs MGS`, `mds MDS`, `mdt <target>`.
    private let devices: [ObdDeviceRegistration]

    private init(lnet: LNetInstance, mgs: MGSDevice, mgsService: MGSService, lod: LODDevice, mdt: MDTDevice,
                 mdtService: MDTService, parameters: MGCParameters, subscription: UInt64,
                 devices: [ObdDeviceRegistration]) {
        self.parameters = parameters
        self.lnet = lnet
        self.mgs = mgs
        self.mgsService = mgsService
        self.lod = lod
        self.mdt = mdt
        self.mdtService = mdtService
        self.subscription = subscription
        self.devices = devices
    }

    /// Starts the MGS and the MDT `target` whose tree is at `root`, served on `nid`.
    static func start(target: TargetName, root: String, nid: NID, options: Options) async throws(LustreError) -> MDSServer {
        let mgs = try await MGSDevice.open(root: root)
        var lnetConfiguration = LNetConfiguration()
        lnetConfiguration.acceptPort = options.acceptPort
        let lnet: LNetInstance
        do {
            lnet = try await LNetInstance.start(nid: nid, configuration: lnetConfiguration)
        } catch {
            throw error.adding(context: "start LNet on \(nid) port \(options.acceptPort)")
        }
        let mgsService = MGSService(lnet: lnet, device: mgs)
        mgsService.start()
        let lod: LODDevice
        do {
            try await mgs.register(target, nids: ["\(nid)"])
            var lodOptions = LODDevice.Options()
            lodOptions.replayClaimGrace = options.recoveryTime
            lod = try LODDevice(lnet: lnet, root: root, fsname: target.fsname, options: lodOptions)
        } catch {
            await mgsService.stop()
            await lnet.shutdown()
            throw error
        }
        // OSTs known from earlier runs, then every one that registers from now on; the -P
        // parameters after them, so they reach the OSP devices of OSTs just added.
        let fsname = target.fsname
        let parameters = MGCParameters()
        let subscription = mgs.subscribe { configuration in
            guard configuration.fsname == fsname else { return }
            addOSTs(configuration, to: lod)
            parameters.update(configuration)
        }
        if let known = try? mgs.configuration(fsname: fsname) { addOSTs(known, to: lod) }
        let mdt: MDTDevice
        do {
            try await lod.start(holdingLoggedDestroys: true)
            var mdtOptions = MDTDevice.Options()
            mdtOptions.commitInterval = options.commitInterval
            mdtOptions.orphanGrace = options.recoveryTime
            if let known = try? mgs.configuration(fsname: fsname) { mdtOptions.defaultLayout = known.defaultLayout }
            mdt = try await MDTDevice.open(root: root, target: target, allocator: lod, options: mdtOptions)
        } catch {
            mgs.unsubscribe(subscription)
            await lod.stop()
            await mgsService.stop()
            await lnet.shutdown()
            throw error
        }
        let mdtService = MDTService(lnet: lnet, device: mdt, threads: options.threads)
        mdtService.start()
        LCONSOLE("serving \(target) and the MGS on \(nid)")
        let devices = [
            ObdDeviceRegistry.shared.register(type: "mgs", name: "MGS", uuid: "MGS",
                                              references: { mgsService.exportCount }),
            ObdDeviceRegistry.shared.register(type: "mds", name: "MDS", uuid: "MDS_uuid"),
            ObdDeviceRegistry.shared.register(type: "mdt", name: "\(target)", uuid: target.uuid,
                                              references: { mdtService.exportCount }),
        ]
        if let known = try? mgs.configuration(fsname: fsname) { parameters.update(known) }
        return MDSServer(lnet: lnet, mgs: mgs, mgsService: mgsService, lod: lod, mdt: mdt, mdtService: mdtService,
                         parameters: parameters, subscription: subscription, devices: devices)
    }

    /// Stops serving: services first (no new requests), then the MDT (its log committed), the
    /// LOD (owed destroys given a moment), and LNet.
    func stop() async {
        for device in devices { device.unregister() }
        mgs.unsubscribe(subscription)
        await mdtService.stop()
        await mgsService.stop()
        await mdt.close()
        await lod.stop()
        await lnet.shutdown()
    }

    private static func addOSTs(_ configuration: FilesystemConfiguration, to lod: LODDevice) {
        for entry in configuration.osts {
            let nids = entry.nids.compactMap { try? NID(parsing: $0) }
            do {
                try lod.addOST(index: entry.index, nids: nids)
            } catch {
                CERROR("\(entry.name) at \(entry.nids.joined(separator: ",")) not added to the object allocator: \(error)")
            }
        }
    }
}

/// The MGS's `set_param -P` for `lctl` on this node (the admin socket's `set_param_perm`).
struct MGSAdminParameters: AdminPersistentParameters {
    let mgs: MGSDevice

    func setPersistent(_ name: String, value: String?) async throws(LustreError) -> [String] {
        try await mgs.setPersistentParameter(name, value: value)
    }
}

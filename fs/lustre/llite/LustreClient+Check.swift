import LibCFS
import ObdClass

extension LustreClient {
    /// One import as `lfs check` reports it.
    public struct TargetCheck: Sendable {
        /// The client device: `MGC<nid>`, `testfs-MDT0000-mdc-<instance>`, `testfs-OST0000-osc-<instance>`.
        public var device: String
        /// `MGS`, `MDT` or `OST`.
        public var kind: String
        /// Why the target did not answer its ping; nil when it did.
        public var error: LustreError?
    }

    /// Pings the MGS, the MDT and every OST at once, each given `timeout` seconds, as Lustre's
    /// `lfs check` pings through each import (`OBD_PING`).
    public func checkTargets(timeout: Double = 5) async -> [TargetCheck] {
        let oscs = lov.allTargets.map(\.osc)
        var pings: [(device: String, kind: String, ping: @Sendable () async throws(LustreError) -> Void)] = []
        let mgc = self.mgc, mdc = self.mdc
        pings.append((mgc.deviceName, "MGS", { () async throws(LustreError) in try await mgc.ping(timeout: timeout) }))
        pings.append((mdc.name, "MDT", { () async throws(LustreError) in try await mdc.rpcImport.ping(timeout: timeout) }))
        for osc in oscs {
            pings.append((osc.name, "OST", { () async throws(LustreError) in try await osc.rpcImport.ping(timeout: timeout) }))
        }
        let errors = await withTaskGroup(of: (Int, LustreError?).self) { group in
            for (position, entry) in pings.enumerated() {
                let ping = entry.ping
                group.addTask {
                    do throws(LustreError) {
                        try await ping()
                        return (position, nil)
                    } catch {
                        return (position, error)
                    }
                }
            }
            var errors = [LustreError?](repeating: nil, count: pings.count)
            for await (position, error) in group { errors[position] = error }
            return errors
        }
        return zip(pings, errors).map { TargetCheck(device: $0.device, kind: $0.kind, error: $1) }
    }
}

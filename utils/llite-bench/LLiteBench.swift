import ArgumentParser
import LLite
import LNet
import LibCFS
import NIOCore
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The streaming workload of tests/bench/mount.sh through the client library, without FUSE:
/// one file written or read sequentially in `--io` calls, timed including the final flush
/// (close), so the figure is what reached the OSTs.
@main
struct LLiteBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llite-bench",
        abstract: "Stream one file through the Lustre client library (no FUSE) and print MB/s.")

    enum Mode: String, ExpressibleByArgument, CaseIterable { case write, read }

    @Option(help: "MGS NID(s), colon separated (e.g. 127.0.0.1@tcp).") var mgs: String
    @Option(help: "Filesystem name.") var fsname: String = "testfs"
    @Option(help: "MiB to write or read.") var size: Int = 1024
    @Option(help: "Stripe count of the file written (-1: every OST, 0: the directory default).")
    var stripeCount: Int = 0
    @Option(help: "Stripe size of the file written (e.g. 1M; 0: the directory default).") var stripeSize: String = "0"
    @Option(help: "Bytes per write or read call (e.g. 1M).") var io: String = "1M"
    @Option(help: "File name in the filesystem root.") var file: String = "llite-bench.dat"
    @Option(help: "The servers' LNet port.") var acceptPort: Int = 988
    @Option(help: "This client's NID (default 127.0.0.1@tcp for a loopback MGS).") var source: String?
    @Option(help: "llite.*.max_read_ahead_mb.") var maxReadAheadMb: Int = 64
    @Option(help: "osc.*.max_dirty_mb.") var maxDirtyMb: Int = 32
    @Option(help: "osc.*.max_rpcs_in_flight.") var rpcsInFlight: Int = 8
    @Flag(help: "End the write with fsync (committed on the OSTs) inside the timed part.") var fsync = false
    @Flag(help: "Unlink the file at the end.") var unlink = false
    @Option(help: "Job id every RPC carries (the servers' job_stats count under it); none by default.")
    var jobid: String = ""
    @Argument(help: "write or read.") var mode: Mode

    func validate() throws {
        guard size > 0 else { throw ValidationError("--size must be positive") }
        guard stripeCount >= -1, stripeCount <= LustreLayout.maxStripeCount else {
            throw ValidationError("--stripe-count must be -1...\(LustreLayout.maxStripeCount)")
        }
        let ioBytes = try NumberText.size(io)
        guard ioBytes > 0, ioBytes <= 64 << 20 else { throw ValidationError("--io must be 1 byte...64M") }
    }

    func run() async throws {
        LustreDebug.applyEnvironment()
        let nids = try mgs.split(separator: ":").map { try NID(parsing: String($0)) }
        var options = LustreClient.Options()
        options.acceptPort = acceptPort
        options.localNID = try source.map { try NID(parsing: $0) }
        options.maxReadAheadMB = maxReadAheadMb
        options.maxDirtyMB = maxDirtyMb
        options.maxRPCsInFlight = rpcsInFlight
        let client: LustreClient
        do {
            client = try await LustreClient.mount(mgs: nids, fsname: fsname, options: options)
        } catch {
            fputs("llite-bench: mount \(mgs):/\(fsname): \(error)\n", stderr)
            throw ExitCode(1)
        }
        var failed = false
        do {
            let bytes = try await LustreClient.withJobID(jobid) { () async throws(LustreError) -> Int in
                do {
                    return try await mode == .write ? writeFile(client) : readFile(client)
                } catch let error as LustreError {
                    throw error
                } catch {
                    throw LustreError(errno: EIO, "\(error)")
                }
            }
            if unlink { try await client.unlink(parent: client.rootFID, name: file, credentials: .root) }
            _ = bytes
        } catch {
            fputs("llite-bench: \(error)\n", stderr)
            failed = true
        }
        do {
            try await client.unmount()
        } catch {
            fputs("llite-bench: unmount: \(error)\n", stderr)
            failed = true
        }
        if failed { throw ExitCode(1) }
    }

    private func report(_ bytes: Int, since start: UInt64) {
        let seconds = Double(MonotonicClock.nanoseconds() - start) / 1e9
        let rate = Double(bytes) / seconds / 1e6
        print("\(mode.rawValue): \(bytes >> 20) MiB in \(NumberText.fixed(seconds, 3)) s: \(NumberText.fixed(rate, 1)) MB/s")
        print("RESULT llite-bench \(mode.rawValue) \(NumberText.fixed(rate, 1)) MB/s")
    }

    private func writeFile(_ client: LustreClient) async throws -> Int {
        let ioBytes = try NumberText.size(io)
        var layout: LustreLayout?
        let stripe = try NumberText.size(stripeSize)
        if stripeCount != 0 || stripe != 0 {
            layout = LustreLayout(stripeSize: UInt32(stripe),
                                  stripeCount: stripeCount == -1 ? LustreLayout.stripeCountAll : UInt16(stripeCount))
        }
        // A fresh file each run, so the layout asked for is the one used.
        do throws(LustreError) {
            try await client.unlink(parent: client.rootFID, name: file, credentials: .root)
        } catch {
            guard error.errno == ENOENT else { throw error }
        }
        let handle = try await client.create(parent: client.rootFID, name: file, mode: 0o644, credentials: .root,
                                             layout: layout, exclusive: true, flags: O_WRONLY)
        var buffer = ByteBufferAllocator().buffer(capacity: ioBytes)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: ioBytes) { raw in
            for index in 0..<ioBytes { raw[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
            return ioBytes
        }
        let total = size << 20
        let start = MonotonicClock.nanoseconds()
        var offset = 0
        while offset < total {
            let length = min(ioBytes, total - offset)
            let data = length == ioBytes ? buffer : buffer.getSlice(at: 0, length: length)!
            try await handle.write(offset: UInt64(offset), data: data)
            offset += length
        }
        if fsync { try await handle.fsync() }
        try await handle.close()
        report(total, since: start)
        return total
    }

    private func readFile(_ client: LustreClient) async throws -> Int {
        let ioBytes = try NumberText.size(io)
        let attributes = try await client.lookup(parent: client.rootFID, name: file, credentials: .root)
        let handle = try await client.open(attributes.fid, flags: O_RDONLY, credentials: .root)
        let total = min(size << 20, Int(attributes.size))
        guard total > 0 else {
            try await handle.close()
            throw LustreError(errno: ENODATA, "\(file) is empty: run 'llite-bench write' first")
        }
        let start = MonotonicClock.nanoseconds()
        var offset = 0
        while offset < total {
            let data = try await handle.read(offset: UInt64(offset), length: min(ioBytes, total - offset))
            guard data.readableBytes > 0 else { break }
            offset += data.readableBytes
        }
        try await handle.close()
        report(offset, since: start)
        return offset
    }
}

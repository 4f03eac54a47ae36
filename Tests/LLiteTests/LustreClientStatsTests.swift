import LLite
import LOV
import LibCFS
import NIOCore
import ObdClass
import PtlRPC
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The client's `osc.*.rpc_stats`, `osc.*.stats` and `osc.*.import` after real I/O, and the job
/// id on the RPCs that reach the OSTs.
final class LustreClientStatsTests: XCTestCase {
    private func value(_ name: String) throws -> String {
        try XCTUnwrap(ParamTree.shared.get(name).first?.value, name)
    }

    /// The columns of the row `label:` of the table titled `title` in an rpc_stats text.
    private func row(_ text: String, _ title: String, _ label: String) -> [String]? {
        guard let table = text.components(separatedBy: "\n\t\t\tread\t\t\twrite\n").first(where: { $0.hasPrefix(title) })
        else { return nil }
        return table.split(separator: "\n").first { $0.hasPrefix(label + ":\t\t") }?
            .split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "|" }).map(String.init)
    }

    func testRPCStatsStatsAndImportOfAnOSCAfterAStream() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let file = try await client.create(parent: client.rootFID, name: "stream", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 1))
        let ost = try XCTUnwrap(file.layout?.objects.first?.ostIndex)
        let osc = "osc.\(LustreFixture.fsname)-OST000\(ost)-osc-\(client.instance)"
        // A client's OSC asks for grant when it connects: the stream is cached whole from its
        // first write.
        XCTAssertGreaterThan(Int(try value(osc + ".cur_grant_bytes")) ?? 0, 8 << 20)
        _ = try ParamTree.shared.set(osc + ".rpc_stats", value: "clear")
        _ = try ParamTree.shared.set(osc + ".stats", value: "clear")
        for chunk in 0..<8 {
            try await file.write(offset: UInt64(chunk) << 20, data: ByteBuffer(bytes: pattern(1 << 20, seed: UInt64(chunk))))
        }
        try await file.fsync()

        let rpcStats = try value(osc + ".rpc_stats")
        let lines = rpcStats.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("snapshot_time:            "), rpcStats)
        XCTAssertTrue(lines[0].hasSuffix(" secs.nsecs"), rpcStats)
        XCTAssertTrue(lines[1].hasPrefix("start_time:               "), rpcStats)
        XCTAssertTrue(lines[2].hasPrefix("elapsed_time:             "), rpcStats)
        XCTAssertEqual(Array(lines[3...7]), ["read RPCs in flight:  0", "write RPCs in flight: 0",
                                             "pending write pages:  0", "pending read pages:   0", ""], rpcStats)
        XCTAssertEqual(lines[9], "pages per rpc         rpcs   % cum % |       rpcs   % cum %", rpcStats)
        // 8 MiB in 4 MiB RPCs: two of 1024 pages, at object pages 0 and 1024.
        XCTAssertEqual(row(rpcStats, "pages per rpc", "1024"), ["1024:", "0", "0", "0", "2", "100", "100"], rpcStats)
        XCTAssertEqual(row(rpcStats, "pages per rpc", "1"), ["1:", "0", "0", "0", "0", "0", "0"], rpcStats)
        XCTAssertEqual(row(rpcStats, "offset", "0"), ["0:", "0", "0", "0", "1", "50", "50"], rpcStats)
        XCTAssertEqual(row(rpcStats, "offset", "1024"), ["1024:", "0", "0", "0", "1", "50", "100"], rpcStats)
        XCTAssertNil(row(rpcStats, "offset", "2048"), "rows stop once both columns are complete")
        let inFlight = (1...8).compactMap { row(rpcStats, "rpcs in flight", String($0)) }.map { Int($0[4]) ?? 0 }
        XCTAssertEqual(inFlight.reduce(0, +), 2, rpcStats)

        let stats = try value(osc + ".stats")
        XCTAssertTrue(stats.contains("\nwrite_bytes               2 samples [bytes] 4194304 4194304 8388608 "), stats)
        XCTAssertTrue(stats.contains("\nost_write                 2 samples [usecs] "), stats)
        XCTAssertTrue(stats.contains("\nost_sync                  1 samples [usecs] "), stats)

        let importText = try value(osc + ".import")
        XCTAssertTrue(importText.hasPrefix("import:\n    name: \(LustreFixture.fsname)-OST000\(ost)-osc-\(client.instance)\n"
                                           + "    target: \(LustreFixture.fsname)-OST000\(ost)_UUID\n    state: FULL\n"),
                      importText)
        XCTAssertTrue(importText.contains("\n    write_data_averages:\n       bytes_per_rpc: 4194304\n"), importText)
        let mdc = "mdc.\(LustreFixture.fsname)-MDT0000-mdc-\(client.instance)"
        let mdcImport = try value(mdc + ".import")
        XCTAssertTrue(mdcImport.contains("\n    state: FULL\n"), mdcImport)
        // The create (a reint) was a modify RPC, alone on the wire; the close is still to come.
        let mdcRPCStats = try value(mdc + ".rpc_stats")
        XCTAssertTrue(mdcRPCStats.contains("\nmodify_RPCs_in_flight:  0\n"), mdcRPCStats)
        XCTAssertTrue(mdcRPCStats.contains("\n1:\t\t         "), mdcRPCStats)

        _ = try ParamTree.shared.set(osc + ".rpc_stats", value: "0")
        let cleared = try value(osc + ".rpc_stats")
        XCTAssertNil(row(cleared, "pages per rpc", "1024"), cleared)
        XCTAssertEqual(row(cleared, "pages per rpc", "1"), ["1:", "0", "0", "0", "0", "0", "0"], cleared)
        try await file.close()
    }

    /// `ost_getattr` RPCs counted in `osc.*.stats`.
    private func ostGetattrs(_ osc: String) throws -> Int {
        let line = try value(osc + ".stats").split(separator: "\n").first { $0.hasPrefix("ost_getattr ") }
        return line.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) } ?? 0
    }

    /// A stat of a file open here asks its OSTs once an attribute lifetime, not at every call
    /// (`tar` sets owner, mode and times on each file it holds open), none at all while the
    /// objects this client just made are known empty; it sees another client's write once the
    /// lifetime is over, and a truncate here at once.
    func testAttributesOfAFileOpenHereGlimpseOnceAnAttributeLifetime() async throws {
        let fs = try await makeFilesystem()
        let one = try await fs.mount(client: 0) { $0.attributeLifetime = 0.5 }
        let two = try await fs.mount(client: 1)
        let file = try await one.create(parent: one.rootFID, name: "held", mode: 0o644, credentials: .root,
                                        layout: LustreLayout(stripeSize: 64 << 10, stripeCount: 1))
        let ost = try XCTUnwrap(file.layout?.objects.first?.ostIndex)
        let osc = "osc.\(LustreFixture.fsname)-OST000\(ost)-osc-\(one.instance)"
        _ = try ParamTree.shared.set(osc + ".stats", value: "clear")
        try await file.write(offset: 0, data: ByteBuffer(bytes: pattern(10_000, seed: 1)))
        var change = MDTSetattr()
        change.valid = [.mode]
        change.mode = 0o600
        for _ in 0..<3 {
            let attributes = try await one.getattr(file.fid, credentials: .root)
            XCTAssertEqual(attributes.size, 10_000)
            let changed = try await one.setattr(file.fid, change, credentials: .root)
            XCTAssertEqual(changed.size, 10_000)
        }
        XCTAssertEqual(try ostGetattrs(osc), 0, "objects made empty by this client were glimpsed")

        let other = try await two.open(file.fid, flags: O_RDWR, credentials: .root)
        try await other.write(offset: 100_000, data: ByteBuffer(bytes: pattern(1000, seed: 2)))
        try await other.flush()
        try await Task.sleep(nanoseconds: 600_000_000)
        let grown = try await one.getattr(file.fid, credentials: .root)
        XCTAssertEqual(grown.size, 101_000, "another client's write unseen after the attribute lifetime")
        XCTAssertEqual(try ostGetattrs(osc), 1)
        _ = try await one.getattr(file.fid, credentials: .root)
        XCTAssertEqual(try ostGetattrs(osc), 1, "a second stat within the lifetime asked the OST again")

        try await file.truncate(5000)
        let cut = try await one.getattr(file.fid, credentials: .root)
        XCTAssertEqual(cut.size, 5000, "a truncate here unseen by the next stat here")
        try await other.close()
        try await file.close()
        let closed = try await one.getattr(file.fid, credentials: .root)
        XCTAssertEqual(closed.size, 5000)
    }

    func testWriteBackRPCsCarryTheJobOfTheWriter() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        guard !ParamTree.shared.list("obdfilter.*.job_stats").isEmpty else {
            throw XCTSkip("the OSTs keep no obdfilter.*.job_stats yet")
        }
        let file = try await client.create(parent: client.rootFID, name: "job", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 1))
        let ost = try XCTUnwrap(file.layout?.objects.first?.ostIndex)
        // 3 MiB + 100 bytes stay cached (no full 4 MiB RPC): they leave at close, outside the job.
        let written = (3 << 20) + 100
        try await PtlRPCJobID.$current.withValue("writer.1") {
            try await file.write(offset: 0, data: ByteBuffer(bytes: pattern(written, seed: 1)))
        }
        try await file.close()
        let jobStats = try value("obdfilter.\(LustreFixture.fsname)-OST000\(ost).job_stats")
        let jobs = jobStats.components(separatedBy: "\n- job_id:")
        let job = try XCTUnwrap(jobs.first { $0.drop { $0 == " " }.hasPrefix("writer.1\n") }, jobStats)
        let writeLine = try XCTUnwrap(job.split(separator: "\n").first { $0.contains("write_bytes:") }, job)
        let sum = writeLine.components(separatedBy: "sum:").last?.split(separator: ",").first
            .map { String($0.filter { $0 != " " }) }
        XCTAssertEqual(sum, String(written), jobStats)
    }

    func testMetadataRPCsCarryTheJobOfTheCaller() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        guard let mdt = ParamTree.shared.list("mdt.*.job_stats").first?.name else {
            throw XCTSkip("the MDT keeps no mdt.*.job_stats yet")
        }
        _ = try ParamTree.shared.set(mdt, value: "clear")
        _ = try await LustreClient.withJobID("meta.9") { () async throws(LustreError) -> MDTAttributes in
            try await client.mkdir(parent: client.rootFID, name: "d", mode: 0o755, credentials: .root)
        }
        _ = try await client.mkdir(parent: client.rootFID, name: "e", mode: 0o755, credentials: .root)
        let jobStats = try value(mdt)
        let ids = jobStats.split(separator: "\n").filter { $0.hasPrefix("- job_id:") }
            .map { $0.dropFirst("- job_id:".count).filter { $0 != " " } }
        XCTAssertEqual(ids, ["meta.9"], jobStats)
    }
}

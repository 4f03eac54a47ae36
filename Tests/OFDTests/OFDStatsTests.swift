import LibCFS
import NIOCore
import LustreTestSupport
import OFD
import OSC
import OSD
import ObdClass
import PtlRPC
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `obdfilter.<target>.brw_stats`, `.job_stats` and `.exports.*`: what a client's requests leave in them.
final class OFDStatsTests: XCTestCase {
    private let device = "obdfilter.testfs-OST0000"
    private var clientNID: String { "\(OSSFixture.clientNIDs[1])" }

    private func value(_ name: String) throws -> String {
        try XCTUnwrap(ParamTree.shared.get(name).first?.value)
    }

    /// Sends one OST_WRITE of `niobufs` from the raw import, tagged with `jobID`.
    private func write(_ rpcImport: PtlRPCImport, _ id: OSTObjectID, _ niobufs: [OSTNiobuf],
                       jobID: String) async throws {
        let total = niobufs.reduce(0) { $0 + Int($1.length) }
        let status = try await rpcImport.call(opcode: OSTOpcode.write.rawValue,
                                              buffers: [encode(obdo(id)), OSTNiobuf.encode(niobufs)],
                                              bulk: .write([pattern(total, seed: 7)]), jobID: jobID).reply.status
        XCTAssertEqual(status, 0)
    }

    func testAWriteShowsInBRWStatsJobStatsAndTheClientsExportWithItsExactBytes() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        let rpcImport = try await oss.rawImport()
        _ = try ParamTree.shared.set("\(device).brw_stats", value: "clear")
        // Three pages then, after a gap, one page and a bit: 5 pages, one break, two file I/Os.
        let niobufs = [OSTNiobuf(offset: 0, length: 3 * 4096), OSTNiobuf(offset: 8 * 4096, length: 4096 + 100)]
        let bytes = 4 * 4096 + 100
        try await write(rpcImport, id, niobufs, jobID: "dd.4242")

        let brw = try value("\(device).brw_stats")
        XCTAssertTrue(brw.hasPrefix("snapshot_time:         "), brw)
        XCTAssertTrue(brw.contains("\npages per bulk r/w     rpcs  % cum % |  rpcs        % cum %\n"), brw)
        // 5 pages land in the 8 bucket (log2, rounded up), the only write.
        XCTAssertTrue(brw.contains("\n8:\t\t         0   0   0   |    1 100 100\n"), brw)
        XCTAssertTrue(brw.contains("\ndiscontiguous pages    rpcs  % cum % |  rpcs        % cum %\n"
                                   + "1:\t\t         0   0   0   |    1 100 100\n"), brw)
        XCTAssertTrue(brw.contains("\ndisk fragmented I/Os   ios   % cum % |  ios         % cum %\n"), brw)
        XCTAssertTrue(brw.contains("\n2:\t\t         0   0   0   |    1 100 100\n"), brw)
        XCTAssertTrue(brw.contains("\ndisk I/Os in flight"), brw)
        XCTAssertTrue(brw.contains("\nI/O time (1/1000s)"), brw)
        // The file I/Os: 12 KiB and 4196 bytes (8K bucket).
        XCTAssertTrue(brw.contains("\ndisk I/O size          ios   % cum % |  ios         % cum %\n"
                                   + "8K:\t\t         0   0   0   |    1  50  50\n"
                                   + "16K:\t\t         0   0   0   |    1  50 100\n"), brw)

        let jobs = try value("\(device).job_stats")
        XCTAssertTrue(jobs.hasPrefix("job_stats:\n- job_id:          dd.4242\n"), jobs)
        XCTAssertTrue(jobs.contains("  write_bytes:     { samples:           1, unit: bytes, min: "
                                    + String(repeating: " ", count: 8 - String(bytes).count) + "\(bytes), "), jobs)
        XCTAssertTrue(jobs.contains(", sum: " + String(repeating: " ", count: 16 - String(bytes).count) + "\(bytes), "), jobs)
        XCTAssertTrue(jobs.contains("  write:           { samples:           1, unit: usecs"), jobs)

        let exportStats = try value("\(device).exports.\(clientNID).stats")
        let line = try XCTUnwrap(exportStats.split(separator: "\n").first { $0.hasPrefix("write_bytes ") })
        XCTAssertEqual(line.split(separator: " ").map(String.init).filter { !$0.isEmpty }[6], "\(bytes)", exportStats)
        XCTAssertEqual(try value("\(device).exports.\(clientNID).uuid"), rpcImport.clientUUID + "\n")
    }

    func testRequestsWithoutAJobIDAreNotInJobStats() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        _ = try ParamTree.shared.set("\(device).job_stats", value: "clear")
        try await osc.write(object: id, offset: 0, data: pattern(4096, seed: 1))
        XCTAssertEqual(try value("\(device).job_stats"), "")
    }

    func testReadsFillTheReadColumn() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        try await osc.write(object: id, offset: 0, data: pattern(65536, seed: 2))
        _ = try ParamTree.shared.set("\(device).brw_stats", value: "clear")
        _ = try await osc.read(object: id, offset: 0, length: 65536)
        let brw = try value("\(device).brw_stats")
        // 16 pages in one read, no write since the clear.
        XCTAssertTrue(brw.contains("\n16:\t\t         1 100 100   |    0   0   0\n"), brw)
    }

    func testWritingBRWStatsClearsIt() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        try await osc.write(object: id, offset: 0, data: pattern(4096, seed: 3))
        XCTAssertTrue(try value("\(device).brw_stats").contains("|    1 100 100"))
        _ = try ParamTree.shared.set("\(device).brw_stats", value: "0")
        let cleared = try value("\(device).brw_stats")
        XCTAssertFalse(cleared.contains(":\t\t"), cleared)
    }

    func testExportsComeWithTheFirstConnectAndGoWithTheLastDisconnect() async throws {
        let oss = try await makeOSS()
        let nid = "\(OSSFixture.clientNIDs[0])"
        XCTAssertEqual(try value("\(device).num_exports"), "0")
        let first = try await oss.osc()
        let second = try await oss.osc()
        XCTAssertEqual(try value("\(device).num_exports"), "2")
        let uuids = try value("\(device).exports.\(nid).uuid").split(separator: "\n").map(String.init)
        XCTAssertEqual(Set(uuids), [first.rpcImport.clientUUID, second.rpcImport.clientUUID])
        // The NID is one component: globs over it work as lctl's do.
        XCTAssertEqual(try ParamTree.shared.get("obdfilter.*.exports.*.uuid").map(\.name),
                       ["\(device).exports.\(nid).uuid"])
        await first.disconnect()
        XCTAssertEqual(try value("\(device).num_exports"), "1")
        XCTAssertEqual(try value("\(device).exports.\(nid).uuid"), second.rpcImport.clientUUID + "\n")
        await second.disconnect()
        XCTAssertEqual(try value("\(device).num_exports"), "0")
        XCTAssertEqual(ParamTree.shared.list("\(device).exports.\(nid).*").count, 0)
    }
}

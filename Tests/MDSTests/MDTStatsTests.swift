import LibCFS
import LustreTestSupport
import MDC
import MDT
import NIOCore
import ObdClass
import PtlRPC
import XCTest

/// `mdt.<target>.job_stats` and `.exports.*`: what a client's metadata requests leave in them.
final class MDTStatsTests: XCTestCase {
    private let device = "mdt.testfs-MDT0000"

    private func value(_ name: String) throws -> String {
        try XCTUnwrap(ParamTree.shared.get(name).first?.value)
    }

    func testRequestsCountUnderTheirJobAndTheirClientsNID() async throws {
        let fixture = try await makeMDS(osts: 1)
        let raw = try await fixture.rawImport(client: 1)
        let nid = "\(MDSTestNet.clientNIDs[1])"
        for _ in 0..<3 {
            let reply = try await raw.call(opcode: MDTOpcode.statfs.rawValue,
                                           buffers: [MDTStatfsRequest(credentials: .root).encoded()], jobID: "ls.77")
            XCTAssertEqual(reply.reply.status, 0)
        }
        let untagged = try await raw.call(opcode: MDTOpcode.statfs.rawValue,
                                          buffers: [MDTStatfsRequest(credentials: .root).encoded()])
        XCTAssertEqual(untagged.reply.status, 0)

        let jobs = try value("\(device).job_stats")
        XCTAssertTrue(jobs.hasPrefix("job_stats:\n- job_id:          ls.77\n"), jobs)
        XCTAssertTrue(jobs.contains("\n  statfs:          { samples:           3, unit: usecs, min: "), jobs)
        XCTAssertTrue(jobs.contains("\n  open:            { samples:           0, unit: usecs, min:        0, "), jobs)

        XCTAssertEqual(try value("\(device).exports.\(nid).uuid"), raw.clientUUID + "\n")
        let stats = try value("\(device).exports.\(nid).stats")
        let statfs = try XCTUnwrap(stats.split(separator: "\n").first { $0.hasPrefix("statfs ") }, stats)
        XCTAssertEqual(statfs.split(separator: " ")[1], "4", "all four statfs of the NID, tagged or not")

        let connected = Int(try value("\(device).num_exports")) ?? -1
        await raw.disconnect()
        XCTAssertEqual(Int(try value("\(device).num_exports")), connected - 1)
        XCTAssertEqual(ParamTree.shared.list("\(device).exports.\(nid).*").count, 0)
    }
}

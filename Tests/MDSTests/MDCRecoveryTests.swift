import LNet
import LibCFS
import MDC
import NIOCore
import ObdClass
import PtlRPC
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The MDC through MDS restarts: it reconnects by itself, and what the MDS acknowledged is there
/// afterwards (committed, or replayed by the client).
final class MDCRecoveryTests: XCTestCase {
    func testClientReconnectsAfterACleanMDSRestart() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        let (dir, _) = try await mdc.create(parent: root, name: "before", kind: .directory, mode: 0o755,
                                            credentials: .root, layout: nil, exclusive: true)
        await fixture.stopMDS()
        try await fixture.startMDS()
        let found = try await mdc.lookup(parent: root, name: "before", credentials: .root)
        XCTAssertEqual(found.0.fid, dir.fid, "the FID survives a restart")
        _ = try await mdc.create(parent: root, name: "after", kind: .directory, mode: 0o755, credentials: .root,
                                 layout: nil, exclusive: true)
        XCTAssertEqual(mdc.rpcImport.status, .full)
    }

    func testAcknowledgedCreatesSurviveAnMDSCrash() async throws {
        let fixture = try await makeMDS()
        fixture.commitInterval.withLock { $0 = 30 }
        await fixture.stopMDS()
        try await fixture.startMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        for index in 0..<5 {
            _ = try await mdc.create(parent: root, name: "crash\(index)", kind: .directory, mode: 0o755,
                                     credentials: .root, layout: nil, exclusive: true)
        }
        XCTAssertGreaterThan(mdc.rpcImport.replayCount, 0, "creates not yet committed are kept for replay")
        await fixture.crashMDS()
        fixture.commitInterval.withLock { $0 = 0.2 }
        try await fixture.startMDS()
        for index in 0..<5 {
            let (attributes, _) = try await mdc.lookup(parent: root, name: "crash\(index)", credentials: .root)
            XCTAssertTrue(attributes.isDirectory)
        }
        _ = try await mdc.sync()
        XCTAssertEqual(mdc.rpcImport.replayCount, 0)
    }
}

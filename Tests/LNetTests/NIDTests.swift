import LibCFS
import XCTest

@testable import LNet

#if canImport(Glibc)
import Glibc
#endif

final class NIDTests: XCTestCase {
    func testParsesTCPNID() throws {
        let nid = try NID(parsing: "192.168.1.10@tcp")
        XCTAssertEqual(nid.netType, .tcp)
        XCTAssertEqual(nid.netNumber, 0)
        XCTAssertEqual(nid.address, 0xc0a8_010a)
        XCTAssertEqual(nid.network, "tcp")
        XCTAssertEqual(nid.ipv4String, "192.168.1.10")
    }

    func testParsesNumberedTCPNetwork() throws {
        let nid = try NID(parsing: "10.0.0.1@tcp1")
        XCTAssertEqual(nid.netType, .tcp)
        XCTAssertEqual(nid.netNumber, 1)
        XCTAssertEqual(nid.address, 0x0a00_0001)
        XCTAssertEqual(nid.network, "tcp1")
    }

    func testParsesLoopbackNID() throws {
        let nid = try NID(parsing: "0@lo")
        XCTAssertEqual(nid, NID.loopback)
        XCTAssertEqual(nid.netType, .lo)
        XCTAssertEqual(nid.address, 0)
    }

    func testDescriptionRoundTrips() throws {
        for text in ["192.168.1.10@tcp", "10.0.0.1@tcp1", "0@lo", "255.255.255.255@tcp65535", "0.0.0.0@tcp"] {
            let nid = try NID(parsing: text)
            XCTAssertEqual(nid.description, text)
            XCTAssertEqual(try NID(parsing: nid.description), nid)
            XCTAssertEqual(NID(text), nid, "LosslessStringConvertible init for \(text)")
        }
    }

    func testWireFormRoundTrips() throws {
        for text in ["192.168.1.10@tcp", "10.0.0.1@tcp1", "0@lo", "127.0.0.1@tcp7"] {
            let nid = try NID(parsing: text)
            XCTAssertEqual(NID(validatingWire: nid.wire), nid, text)
        }
    }

    func testWireLayoutPutsLNDTypeAndNetworkAboveAddress() throws {
        let nid = try NID(parsing: "10.0.0.1@tcp3")
        XCTAssertEqual(nid.wire, 0x0002_0003_0a00_0001)
        XCTAssertEqual(NID.loopback.wire, 0x0009_0000_0000_0000)
    }

    func testUnknownWireNetworkTypeIsRejected() {
        XCTAssertNil(NID(validatingWire: 0x0005_0000_0a00_0001))   // o2ib is not spoken here
        XCTAssertNil(NID(validatingWire: .max))
    }

    func testInvalidTextsThrowEINVALQuotingTheText() {
        for text in ["1.2.3@tcp", "1.2.3.4", "256.1.1.1@tcp", "1.2.3.4@ib", "5@lo", "@tcp", "",
                     "1.2.3.4@", "1.2.3.4@tcpx", "1..3.4@tcp", "1.2.3.4.5@tcp", "1.2.3.4@tcp99999", "a.b.c.d@tcp"] {
            do {
                let nid = try NID(parsing: text)
                XCTFail("'\(text)' parsed as \(nid)")
            } catch {
                XCTAssertEqual(error.errno, EINVAL, "'\(text)': \(error)")
                XCTAssertTrue(error.context.contains("'\(text)'"), "context of '\(text)' does not quote it: \(error.context)")
            }
            XCTAssertNil(NID(text), "LosslessStringConvertible init accepted '\(text)'")
        }
    }

    func testOrderingFollowsWireValue() throws {
        let a = try NID(parsing: "10.0.0.1@tcp"), b = try NID(parsing: "10.0.0.2@tcp"), c = try NID(parsing: "10.0.0.1@tcp1")
        XCTAssertLessThan(a, b)
        XCTAssertLessThan(b, c)
    }

    func testProcessIDPrintsAsLctlPing() throws {
        XCTAssertEqual(ProcessID(nid: try NID(parsing: "192.168.3.105@tcp")).description, "12345-192.168.3.105@tcp")
        XCTAssertEqual(ProcessID(nid: .loopback, pid: 7).description, "7-0@lo")
    }
}

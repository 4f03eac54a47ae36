import LibCFS
import Testing

@testable import LustreAdmin

#if canImport(Glibc)
import Glibc
#endif

@Suite struct LDevConfigurationTests {
    let text = """
        # local  foreign  label           device
        oss1     oss2     testfs-OST0000  /dev/sdb   # primary on oss1
        oss2     oss1     testfs-OST0001  ldiskfs:/dev/sdc
        mds1     -        testfs-MDT0000  /srv/lustre/mdt0.img

        """

    @Test func labelResolvesToTheLocalHostsDevice() throws {
        let conf = try LDevConfiguration(parsing: text)
        #expect(conf.entries.count == 3)
        #expect(try conf.device(for: "testfs-OST0000", host: "oss1") == "/dev/sdb")
        #expect(try conf.device(for: "testfs-OST0001", host: "oss2.example.com") == "/dev/sdc")
        #expect(conf.entries[2].foreign == nil)
    }

    @Test func failoverHostFindsTheTargetItMayServe() throws {
        let conf = try LDevConfiguration(parsing: text)
        #expect(try conf.device(for: "testfs-OST0000", host: "oss2") == "/dev/sdb")
    }

    @Test func unknownLabelIsENOENT() throws {
        let conf = try LDevConfiguration(parsing: text)
        #expect(errnoOf { _ = try conf.device(for: "testfs-OST0009", host: "oss1") } == ENOENT)
    }

    @Test func shortLineAndZFSAreRefusedWithTheLineNumber() {
        #expect(errnoOf { _ = try LDevConfiguration(parsing: "oss1 - testfs-OST0000\n") } == EINVAL)
        do {
            _ = try LDevConfiguration(parsing: "\noss1 - testfs-OST0000 zfs:pool/ost0\n", source: "ldev.conf")
            Issue.record("zfs accepted")
        } catch {
            #expect(error.context.hasPrefix("ldev.conf:2:"))
        }
    }
}

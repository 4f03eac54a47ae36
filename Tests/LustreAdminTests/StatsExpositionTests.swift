import LibCFS
import Prometheus
import Testing

@testable import LustreMetrics

@Suite struct StatsExpositionTests {
    @Test func statsFileBecomesLustreExporterSeries() throws {
        let tree = ParamTree()
        let stats = LProcStats([LProcStats.Counter("write_bytes", unit: "bytes"), LProcStats.Counter("write", unit: "usecs"),
                                LProcStats.Counter("statfs", unit: "usecs")])
        stats.record(0, 4096)
        stats.record(0, 1 << 20)
        stats.record(1, 120)
        stats.record(1, 80)
        try tree.register("obdfilter.testfs-OST0000.stats", stats: stats)
        let registry = PrometheusCollectorRegistry()
        StatsExposition.collect(from: tree, into: registry)
        let lines = registry.emitToString().split(separator: "\n").map(String.init)
        #expect(lines.contains(#"lustre_write_bytes_total{component="ost",target="testfs-OST0000"} 1052672"#))
        #expect(lines.contains(#"lustre_write_samples_total{component="ost",target="testfs-OST0000"} 2"#))
        #expect(lines.contains(#"lustre_write_minimum_size_bytes{component="ost",target="testfs-OST0000"} 4096.0"#))
        #expect(lines.contains(#"lustre_stats_total{component="ost",target="testfs-OST0000",operation="write"} 2"#))
        // A counter with no samples is left out of the stats file, so out of the series too.
        #expect(!lines.contains { $0.contains(#"operation="statfs""#) })
    }

    @Test func timeLinesAndGarbageAreSkipped() {
        let lines = StatsExposition.parse("""
            snapshot_time             1795683391.711569509 secs.nsecs
            start_time                1795683389.966080586 secs.nsecs
            read_bytes                16 samples [bytes] 1048576 1048576 16777216
            nonsense here
            create                    1 samples [usecs] 30490 30490 30490
            """)
        #expect(lines.map(\.name) == ["read_bytes", "create"])
        #expect(lines[0].sum == 16_777_216)
    }
}

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

    /// `obdfilter.*.brw_stats` in Lustre's layout (brw_stats_show), as lustre_exporter reads it.
    static let brwStats = """
        snapshot_time:         1795683391.711569509 secs.nsecs

                                   read      |     write
        pages per bulk r/w     rpcs  % cum % |  rpcs        % cum %
        1:\t\t         2  40  40   |    0   0   0
        256:\t\t         3  60 100   |    8 100 100

                                   read      |     write
        discontiguous pages    rpcs  % cum % |  rpcs        % cum %
        0:\t\t         5 100 100   |    8 100 100

                                   read      |     write
        disk I/O size          ios   % cum % |  ios         % cum %
        4K:\t\t         2  40  40   |    0   0   0
        1M:\t\t         3  60 100   |    8 100 100

                                   read      |     write
        I/O time (1/1000s)     ios   % cum % |  ios         % cum %
        1:\t\t         5 100 100   |    6  75  75
        4:\t\t         0   0 100   |    2  25 100
        """

    @Test func brwStatsTablesBecomePerBucketSeries() throws {
        let sections = HistogramExposition.parse(Self.brwStats)
        #expect(sections.map(\.title) == ["pages per bulk r/w", "discontiguous pages", "disk I/O size", "I/O time (1/1000s)"])
        #expect(sections[0].rows == [.init(label: "1", read: 2, write: 0), .init(label: "256", read: 3, write: 8)])
        let tree = ParamTree()
        try tree.register("obdfilter.testfs-OST0000.brw_stats", get: { Self.brwStats })
        let registry = PrometheusCollectorRegistry()
        StatsExposition.collect(from: tree, into: registry)
        let lines = registry.emitToString().split(separator: "\n").map(String.init)
        let labels = #"component="ost",target="testfs-OST0000""#
        #expect(lines.contains("lustre_pages_per_bulk_rw_total{\(labels),operation=\"write\",size=\"256\"} 8"))
        #expect(lines.contains("lustre_pages_per_bulk_rw_total{\(labels),operation=\"read\",size=\"1\"} 2"))
        #expect(lines.contains("lustre_disk_io_total{\(labels),operation=\"read\",size=\"4096\"} 2"))
        #expect(lines.contains("lustre_disk_io_total{\(labels),operation=\"write\",size=\"1048576\"} 8"))
        #expect(lines.contains("lustre_io_time_milliseconds_total{\(labels),operation=\"write\",size=\"4\"} 2"))
        #expect(lines.contains("lustre_discontiguous_pages_total{\(labels),operation=\"read\",size=\"0\"} 5"))
        #expect(lines.contains("# TYPE lustre_pages_per_bulk_rw_total counter"))
    }

    @Test func mdcModifyTableIsLabelledModify() throws {
        let text = """
            snapshot_time:         1795683391.711569509 secs.nsecs
            modify_RPCs_in_flight:  0

            \t\t\tmodify
            rpcs in flight        rpcs   % cum %
            1:\t\t         4 100 100
            """
        let sections = HistogramExposition.parse(text)
        #expect(sections.map(\.operations) == [["modify"]])
        let tree = ParamTree()
        try tree.register("mdc.testfs-MDT0000-mdc-ffff.rpc_stats", get: { text })
        let registry = PrometheusCollectorRegistry()
        StatsExposition.collect(from: tree, into: registry)
        let out = registry.emitToString()
        #expect(out.contains(#"lustre_rpcs_in_flight{component="client",target="testfs-MDT0000-mdc-ffff",operation="modify",size="1"} 4.0"#))
        #expect(!out.contains(#"operation="read""#))
    }

    @Test func oscRPCStatsInFlightIsAGauge() throws {
        let text = """
            snapshot_time:         1795683391.711569509 secs.nsecs
            read RPCs in flight:  0
            write RPCs in flight: 0

                                    read\t\t\twrite
            rpcs in flight        rpcs   % cum % |       rpcs   % cum %
            1:\t\t         7 100 100   |          3  75  75
            2:\t\t         0   0 100   |          1  25 100
            """
        let tree = ParamTree()
        try tree.register("osc.testfs-OST0000-osc-ffff.rpc_stats", get: { text })
        let registry = PrometheusCollectorRegistry()
        StatsExposition.collect(from: tree, into: registry)
        let out = registry.emitToString()
        #expect(out.contains("# TYPE lustre_rpcs_in_flight gauge"))
        #expect(out.contains(#"lustre_rpcs_in_flight{component="client",target="testfs-OST0000-osc-ffff",operation="write",size="2"} 1.0"#))
    }

    /// `obdfilter.*.job_stats` in Lustre's YAML (lprocfs_jobstats_seq_show).
    static let jobStats = """
        job_stats:
        - job_id:          dd.0
          snapshot_time:   1795683391.711569509 secs.nsecs
          start_time:      1795683389.966080586 secs.nsecs
          elapsed_time:    1.745488923 secs.nsecs
          read_bytes:      { samples:           0, unit: bytes, min:        0, max:        0, sum:                0, sumsq:                  0 }
          write_bytes:     { samples:          16, unit: bytes, min:  1048576, max:  1048576, sum:         16777216, sumsq:  17592186044416 }
          punch:           { samples:           1, unit: usecs, min:       23, max:       23, sum:               23, sumsq:                529 }
        - job_id:          "cp:1000"
          snapshot_time:   1795683391.711569509 secs.nsecs
          read_bytes:      { samples:           2, unit: bytes, min:     4096, max:     8192, sum:            12288 }
          setattr:         { samples:           0, unit: usecs }
        """

    @Test func jobStatsBecomePerJobSeries() throws {
        let jobs = JobStatsExposition.parse(Self.jobStats)
        #expect(jobs.map(\.id) == ["dd.0", "cp:1000"])
        #expect(jobs[0].counters.map(\.name) == ["read_bytes", "write_bytes", "punch"])
        let tree = ParamTree()
        try tree.register("obdfilter.testfs-OST0001.job_stats", get: { Self.jobStats })
        let registry = PrometheusCollectorRegistry()
        StatsExposition.collect(from: tree, into: registry)
        let lines = registry.emitToString().split(separator: "\n").map(String.init)
        let dd = #"component="ost",target="testfs-OST0001",jobid="dd.0""#
        let cp = #"component="ost",target="testfs-OST0001",jobid="cp:1000""#
        #expect(lines.contains("lustre_job_write_bytes_total{\(dd)} 16777216"))
        #expect(lines.contains("lustre_job_write_samples_total{\(dd)} 16"))
        #expect(lines.contains("lustre_job_write_maximum_size_bytes{\(dd)} 1048576.0"))
        #expect(lines.contains("lustre_job_read_bytes_total{\(cp)} 12288"))
        #expect(lines.contains("lustre_job_read_minimum_size_bytes{\(cp)} 4096.0"))
        #expect(lines.contains("lustre_job_stats_total{\(dd),operation=\"punch\"} 1"))
        #expect(lines.contains("lustre_job_stats_total{\(cp),operation=\"setattr\"} 0"))
    }

    @Test func numExportsAndMDStatsOfTheMDT() throws {
        let tree = ParamTree()
        try tree.register("mdt.testfs-MDT0000.num_exports", get: { "3\n" })
        let md = LProcStats([LProcStats.Counter("open", unit: "usecs"), LProcStats.Counter("mkdir", unit: "usecs")])
        md.record(0, 10)
        md.record(0, 12)
        md.record(1, 40)
        try tree.register("mdt.testfs-MDT0000.md_stats", stats: md)
        let registry = PrometheusCollectorRegistry()
        StatsExposition.collect(from: tree, into: registry)
        let lines = registry.emitToString().split(separator: "\n").map(String.init)
        #expect(lines.contains(#"lustre_exports_total{component="mdt",target="testfs-MDT0000"} 3"#))
        #expect(lines.contains(#"lustre_stats_total{component="mdt",target="testfs-MDT0000",operation="open"} 2"#))
        #expect(lines.contains(#"lustre_stats_total{component="mdt",target="testfs-MDT0000",operation="mkdir"} 1"#))
    }

    @Test func aNameClashIsLeftOutInsteadOfTrapping() throws {
        // `foo_bytes` in bytes makes lustre_foo_samples_total a counter; nothing else may reuse
        // that name as a gauge: the writer refuses it rather than letting swift-prometheus trap.
        let registry = PrometheusCollectorRegistry()
        let writer = ExpositionWriter(registry: registry)
        writer.counter("x_total", help: "h", labels: [("a", "1")], value: 1)
        writer.gauge("x_total", help: "h", labels: [("a", "2")], value: 2)
        writer.counter("x_total", help: "other", labels: [("a", "3")], value: 3)
        let out = registry.emitToString()
        #expect(out.contains(#"lustre_x_total{a="1"} 1"#))
        #expect(!out.contains(#"a="2""#) && !out.contains(#"a="3""#))
    }
}

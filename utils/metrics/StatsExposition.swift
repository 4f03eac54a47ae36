import LibCFS
import Prometheus

/// Turns the process's Lustre stats files, read from the parameter tree in Lustre's text formats
/// at each scrape (as lustre_exporter reads them from /proc), into Prometheus series named as
/// lustre_exporter names them, each labelled `component` (`ost`, `mdt`, `client`) and `target`
/// (the device name):
///
/// - `stats`/`md_stats` (`obdfilter.*.stats`, `mdt.*.md_stats`, `osc.*.stats`, `llite.*.stats`): a
///   `[bytes]` counter `read_bytes` gives `lustre_read_samples_total`, `lustre_read_bytes_total`,
///   `lustre_read_minimum_size_bytes`, `lustre_read_maximum_size_bytes`; any other counter
///   `getattr` gives `lustre_stats_total{operation="getattr"}` (its sample count);
/// - histograms (`obdfilter.*.brw_stats`, `osc.*.rpc_stats`, `mdc.*.rpc_stats`): see
///   `HistogramExposition`;
/// - `job_stats` (`obdfilter.*.job_stats`, `mdt.*.job_stats`): see `JobStatsExposition`;
/// - `num_exports`: `lustre_exports_total`.
///
/// Files that are not registered (yet) are skipped, so the exposition follows whatever the
/// components register.
public enum StatsExposition {
    /// What a parameter's text is.
    enum Format {
        case stats, histogram, jobStats, number
    }

    /// Parameter patterns read at each scrape, their format and the component each belongs to.
    static let sources: [(pattern: String, format: Format, component: String)] = [
        ("obdfilter.*.stats", .stats, "ost"),
        ("mdt.*.md_stats", .stats, "mdt"),
        ("osc.*.stats", .stats, "client"),
        ("llite.*.stats", .stats, "client"),
        ("obdfilter.*.brw_stats", .histogram, "ost"),
        ("osc.*.rpc_stats", .histogram, "client"),
        ("mdc.*.rpc_stats", .histogram, "client"),
        ("obdfilter.*.job_stats", .jobStats, "ost"),
        ("mdt.*.job_stats", .jobStats, "mdt"),
        ("obdfilter.*.num_exports", .number, "ost"),
        ("mdt.*.num_exports", .number, "mdt"),
    ]

    /// One counter line of a stats file.
    struct Line: Equatable {
        var name: String
        var count: Int64
        var unit: String
        var min: Int64?
        var max: Int64?
        var sum: Int64?
    }

    /// The counter lines of a stats file's text; the snapshot/start/elapsed time lines and
    /// anything malformed are skipped.
    static func parse(_ text: String) -> [Line] {
        text.split(separator: "\n").compactMap { raw in
            let f = raw.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 4, f[2] == "samples", let count = Int64(f[1]),
                  f[3].hasPrefix("["), f[3].hasSuffix("]") else { return nil }
            let unit = String(f[3].dropFirst().dropLast())
            return Line(name: String(f[0]), count: count, unit: unit,
                        min: f.count > 4 ? Int64(f[4]) : nil, max: f.count > 5 ? Int64(f[5]) : nil,
                        sum: f.count > 6 ? Int64(f[6]) : nil)
        }
    }

    /// Fills `registry` with the current values of every stats file in `tree`.
    public static func collect(from tree: ParamTree = .shared, into registry: PrometheusCollectorRegistry) {
        let writer = ExpositionWriter(registry: registry)
        for source in sources {
            guard let files = try? tree.get(source.pattern) else { continue }
            for file in files {
                let parts = file.name.split(separator: ".")
                guard parts.count >= 3 else { continue }
                let target = parts[1..<(parts.count - 1)].joined(separator: ".")
                let labels = [("component", source.component), ("target", target)]
                switch source.format {
                case .stats:
                    for line in parse(file.value) { add(line, labels: labels, to: writer) }
                case .histogram:
                    HistogramExposition.add(HistogramExposition.parse(file.value), labels: labels, to: writer)
                case .jobStats:
                    JobStatsExposition.add(JobStatsExposition.parse(file.value), labels: labels, to: writer)
                case .number:
                    guard let value = file.value.split(whereSeparator: \.isWhitespace).first.flatMap({ UInt64($0) }) else { continue }
                    writer.counter("exports_total", help: "Total number of times the pool has been exported",
                                   labels: labels, value: value)
                }
            }
        }
    }

    /// lustre_exporter's help texts for the `[bytes]` counters, by operation.
    static func bytesHelp(_ operation: String) -> (samples: String, total: String, minimum: String, maximum: String) {
        let past = operation == "read" ? "read" : operation == "write" ? "written" : operation
        return ("Total number of \(operation)s that have been recorded.",
                "The total number of bytes that have been \(past).",
                "The minimum \(operation) size in bytes.", "The maximum \(operation) size in bytes.")
    }

    static let statsHelp = "Number of operations the filesystem has performed."

    private static func add(_ line: Line, labels: [(String, String)], to writer: ExpositionWriter) {
        if line.unit == "bytes", line.name.hasSuffix("_bytes") {
            let operation = String(line.name.dropLast("_bytes".count))
            let help = bytesHelp(operation)
            writer.counter("\(operation)_samples_total", help: help.samples, labels: labels,
                           value: UInt64(clamping: line.count))
            if let sum = line.sum {
                writer.counter("\(operation)_bytes_total", help: help.total, labels: labels, value: UInt64(clamping: sum))
            }
            if let min = line.min {
                writer.gauge("\(operation)_minimum_size_bytes", help: help.minimum, labels: labels, value: Double(min))
            }
            if let max = line.max {
                writer.gauge("\(operation)_maximum_size_bytes", help: help.maximum, labels: labels, value: Double(max))
            }
        } else {
            writer.counter("stats_total", help: statsHelp, labels: labels + [("operation", line.name)],
                           value: UInt64(clamping: line.count))
        }
    }
}

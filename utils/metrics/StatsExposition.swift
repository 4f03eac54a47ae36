import LibCFS
import Prometheus

/// Turns the process's Lustre stats files (`obdfilter.*.stats`, `osc.*.stats`, `mdt.*.md_stats`,
/// `llite.*.stats`, read from the parameter tree in Lustre's text format, as lustre_exporter
/// reads them from /proc) into Prometheus series named as lustre_exporter names them:
///
/// - a `[bytes]` counter `read_bytes`: `lustre_read_samples_total`, `lustre_read_bytes_total`,
///   `lustre_read_minimum_size_bytes`, `lustre_read_maximum_size_bytes`;
/// - any other counter `getattr`: `lustre_stats_total{operation="getattr"}` (its sample count);
///
/// each labelled `component` (`ost`, `mdt`, `client`) and `target` (the device name).
public enum StatsExposition {
    /// Parameter patterns read at each scrape, and the component each belongs to.
    static let sources: [(pattern: String, component: String)] = [
        ("obdfilter.*.stats", "ost"),
        ("mdt.*.md_stats", "mdt"),
        ("osc.*.stats", "client"),
        ("llite.*.stats", "client"),
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
        for source in sources {
            guard let files = try? tree.get(source.pattern) else { continue }
            for file in files {
                let parts = file.name.split(separator: ".")
                guard parts.count >= 3 else { continue }
                let target = parts[1..<(parts.count - 1)].joined(separator: ".")
                let labels = [("component", source.component), ("target", target)]
                for line in parse(file.value) {
                    add(line, labels: labels, to: registry)
                }
            }
        }
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "lustre", metricName: metric, unitName: unit, helpText: help)
    }

    private static func add(_ line: Line, labels: [(String, String)], to registry: PrometheusCollectorRegistry) {
        if line.unit == "bytes", line.name.hasSuffix("_bytes") {
            let operation = String(line.name.dropLast("_bytes".count))
            registry.makeCounter(descriptor: name("\(operation)_samples", "total",
                                                  "Total number of \(operation)s that have been recorded."), labels: labels)
                .increment(by: line.count)
            if let sum = line.sum {
                registry.makeCounter(descriptor: name("\(operation)_bytes", "total",
                                                      "The total number of bytes that have been \(operation)."), labels: labels)
                    .increment(by: sum)
            }
            if let min = line.min {
                registry.makeGauge(descriptor: name("\(operation)_minimum_size", "bytes",
                                                    "The minimum \(operation) size in bytes."), labels: labels).set(Double(min))
            }
            if let max = line.max {
                registry.makeGauge(descriptor: name("\(operation)_maximum_size", "bytes",
                                                    "The maximum \(operation) size in bytes."), labels: labels).set(Double(max))
            }
        } else {
            registry.makeCounter(descriptor: name("stats", "total", "Number of operations the filesystem has performed."),
                                 labels: labels + [("operation", line.name)])
                .increment(by: line.count)
        }
    }
}

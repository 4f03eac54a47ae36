/// `job_stats` (`obdfilter.*.job_stats`, `mdt.*.job_stats`) as lustre_exporter exports it, per job
/// (`jobid` label): `read_bytes`/`write_bytes` as `lustre_job_read_samples_total`,
/// `lustre_job_read_bytes_total`, `lustre_job_read_minimum_size_bytes`,
/// `lustre_job_read_maximum_size_bytes` (and `write`), every other counter as
/// `lustre_job_stats_total{operation=…}` (its samples).
///
/// Lustre's YAML (`lprocfs_jobstats_seq_show`):
///
/// ```
/// job_stats:
/// - job_id:          dd.0
///   snapshot_time:   1795683391.711569509 secs.nsecs
///   read_bytes:      { samples:           0, unit: bytes, min:        0, max:        0, sum:                0 }
///   write_bytes:     { samples:          16, unit: bytes, min:  1048576, max:  1048576, sum:         16777216 }
///   punch:           { samples:           1, unit: usecs, min:       23, max:       23, sum:               23 }
/// ```
enum JobStatsExposition {
    /// One job's counters.
    struct Job: Equatable {
        var id: String
        var counters: [Counter]
    }

    /// One `name: { samples: N, … }` line.
    struct Counter: Equatable {
        var name: String
        var samples: UInt64
        var min: UInt64?
        var max: UInt64?
        var sum: UInt64?
    }

    static func parse(_ text: String) -> [Job] {
        var jobs: [Job] = []
        for raw in text.split(separator: "\n") {
            var line = Substring(raw)
            while line.first == " " { line = line.dropFirst() }
            if line.hasPrefix("- job_id:") {
                jobs.append(Job(id: jobID(line.dropFirst("- job_id:".count)), counters: []))
                continue
            }
            guard !jobs.isEmpty, let colon = line.firstIndex(of: ":"),
                  let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}"), open < close else { continue }
            var fields: [Substring: UInt64] = [:]
            for pair in line[line.index(after: open)..<close].split(separator: ",") {
                let kv = pair.split(separator: ":", maxSplits: 1)
                guard kv.count == 2 else { continue }
                let key = kv[0].drop(while: { $0 == " " })
                if let value = UInt64(kv[1].filter { $0 != " " }) { fields[key] = value }
            }
            guard let samples = fields["samples"] else { continue }
            jobs[jobs.count - 1].counters.append(Counter(name: String(line[..<colon]), samples: samples,
                                                         min: fields["min"], max: fields["max"], sum: fields["sum"]))
        }
        return jobs
    }

    /// The id as written, without the YAML quotes Lustre adds around unusual ids.
    static func jobID(_ text: Substring) -> String {
        var id = text.drop(while: { $0 == " " })
        while id.last == " " { id = id.dropLast() }
        if id.count >= 2, id.first == "\"", id.last == "\"" { id = id.dropFirst().dropLast() }
        return String(id)
    }

    static func add(_ jobs: [Job], labels: [(String, String)], to writer: ExpositionWriter) {
        for job in jobs {
            let jobLabels = labels + [("jobid", job.id)]
            for counter in job.counters {
                if counter.name == "read_bytes" || counter.name == "write_bytes" {
                    let operation = String(counter.name.dropLast("_bytes".count))
                    let help = StatsExposition.bytesHelp(operation)
                    writer.counter("job_\(operation)_samples_total", help: help.samples, labels: jobLabels,
                                   value: counter.samples)
                    if let sum = counter.sum {
                        writer.counter("job_\(operation)_bytes_total", help: help.total, labels: jobLabels, value: sum)
                    }
                    if let min = counter.min {
                        writer.gauge("job_\(operation)_minimum_size_bytes", help: help.minimum, labels: jobLabels,
                                     value: Double(min))
                    }
                    if let max = counter.max {
                        writer.gauge("job_\(operation)_maximum_size_bytes", help: help.maximum, labels: jobLabels,
                                     value: Double(max))
                    }
                } else {
                    writer.counter("job_stats_total", help: StatsExposition.statsHelp,
                                   labels: jobLabels + [("operation", counter.name)], value: counter.samples)
                }
            }
        }
    }
}

/// The read/write histograms of `brw_stats` (OST) and `rpc_stats` (OSC, MDC) as lustre_exporter
/// exports them: one series per bucket and direction, labelled `operation` (`read`, `write`) and
/// `size` (the bucket, `4K` written as `4096` as lustre_exporter's `convertToBytes` does).
///
/// Lustre's text (`lprocfs_oh_tally` tables, `brw_stats_show`/`osc_rpc_stats_seq_show`):
///
/// ```
/// snapshot_time:         1795683391.711569509 secs.nsecs
///
///                            read      |     write
/// pages per bulk r/w     rpcs  % cum % |  rpcs        % cum %
/// 256:                      4  100 100   |    8 100 100
/// ```
enum HistogramExposition {
    /// One table: its title and its buckets.
    struct Section: Equatable {
        var title: String
        var rows: [Row]
        /// The columns' operations from the header above the table: `read`, `write`, or
        /// `modify` for the MDC's one-column modify table.
        var operations: [String] = ["read", "write"]
    }

    /// One bucket: its label (`256`, `4K`) and counts (`write` nil in one-column tables).
    struct Row: Equatable {
        var label: String
        var read: UInt64
        var write: UInt64?
    }

    /// Tables lustre_exporter exports: title prefix → metric, gauge or counter, help.
    static let series: [(title: String, metric: String, gauge: Bool, help: String)] = [
        ("pages per bulk r/w", "pages_per_bulk_rw_total", false, "Total number of pages per block RPC."),
        ("discontiguous pages", "discontiguous_pages_total", false, "Total number of logical discontinuities per RPC."),
        ("disk I/Os in flight", "disk_io", true, "Current number of I/O operations that are processing during the snapshot."),
        ("I/O time", "io_time_milliseconds_total", false,
         "Total time in milliseconds the filesystem has spent processing various object sizes."),
        ("disk I/O size", "disk_io_total", false, "Total number of operations the filesystem has performed for the given size."),
        ("pages per rpc", "pages_per_rpc_total", false, "Total number of pages per RPC."),
        ("rpcs in flight", "rpcs_in_flight", true, "Current number of RPCs that are processing during the snapshot."),
        ("offset", "rpcs_offset", true, "Current RPC offset by size."),
    ]

    /// The tables of a histogram file. A title line is the one holding `% cum %`; its rows
    /// follow, each starting `label:`, until a blank line or the next table.
    static func parse(_ text: String) -> [Section] {
        var sections: [Section] = []
        var operations = ["read", "write"]
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.isEmpty {
                continue
            }
            if fields.allSatisfy({ $0 == "|" || $0.allSatisfy(\.isLetter) }) {
                // A column header: `read | write`, or `modify` alone.
                operations = fields.filter { $0 != "|" }.map(String.init)
                continue
            }
            if let percent = fields.firstIndex(of: "%"), raw.contains("% cum %"), percent >= 2 {
                // The words before the unit column (`rpcs`, `ios`) are the title.
                sections.append(Section(title: fields[..<(percent - 1)].joined(separator: " "), rows: [],
                                        operations: operations))
                continue
            }
            guard !sections.isEmpty, fields[0].hasSuffix(":"), fields[0] != "snapshot_time:", fields.count >= 2,
                  let read = UInt64(fields[1]) else { continue }
            var write: UInt64?
            if let bar = fields.firstIndex(of: "|"), bar + 1 < fields.count { write = UInt64(fields[bar + 1]) }
            sections[sections.count - 1].rows.append(Row(label: String(fields[0].dropLast()), read: read, write: write))
        }
        return sections
    }

    /// `4K` → `4096`, `1M` → `1048576`; plain numbers stay.
    static func bytes(_ label: String) -> String {
        guard let unit = label.last, let shift = ["K": 10, "M": 20, "G": 30][String(unit)],
              let number = UInt64(label.dropLast()) else { return label }
        return String(number << UInt64(shift))
    }

    static func add(_ sections: [Section], labels: [(String, String)], to writer: ExpositionWriter) {
        for section in sections {
            guard let known = series.first(where: { section.title.hasPrefix($0.title) }) else { continue }
            for row in section.rows {
                let size = bytes(row.label)
                for (column, value) in [row.read, row.write].enumerated() {
                    guard let value, column < section.operations.count else { continue }
                    let operation = section.operations[column]
                    let rowLabels = labels + [("operation", operation), ("size", size)]
                    if known.gauge {
                        writer.gauge(known.metric, help: known.help, labels: rowLabels, value: Double(value))
                    } else {
                        writer.counter(known.metric, help: known.help, labels: rowLabels, value: value)
                    }
                }
            }
        }
    }
}

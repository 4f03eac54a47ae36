import LibCFS

extension PtlRPCImport {
    /// The `import` file of the client device `deviceName` (`osc.*.import`, `mdc.*.import`) in
    /// the YAML layout of Lustre's `lprocfs_import_seq_show`.
    public func statusText(deviceName: String) -> String {
        Self.statusText(snapshot, deviceName: deviceName, target: targetName, nid: "\(target.nid)",
                        stats: configuration.stats, now: WallClock.now().seconds)
    }

    /// The `import` file from a snapshot. Only what this import really tracks is printed: no
    /// `connect_flags` (nothing is negotiated), no `generation` (imports are never invalidated),
    /// no network latency apart from the service estimate (one round-trip estimate covers both),
    /// `idle` once a reply came, and the averages once there are samples.
    static func statusText(_ snapshot: Snapshot, deviceName: String, target: String, nid: String,
                           stats: PtlRPCClientStats?, now: Int64) -> String {
        var flags: [String] = []
        if snapshot.status == .closed { flags.append("invalid") }
        // Requests the server has not committed are kept and replayed after it restarts.
        flags.append("replayable")
        if snapshot.connectionAttempts > 0 { flags.append("connect_tried") }
        var out = """
            import:
                name: \(deviceName)
                target: \(target)
                state: \(snapshot.status.rawValue)
                import_flags: [ \(flags.joined(separator: ", ")) ]
                connection:
                   failover_nids: [ "\(nid)" ]
                   current_connection: "\(nid)"
                   connection_attempts: \(snapshot.connectionAttempts)
                   in-progress_invalidations: 0

            """
        if snapshot.lastReplyTime > 0 { out += "       idle: \(max(0, now - snapshot.lastReplyTime)) sec\n" }
        out += """
                rpcs:
                   inflight: \(snapshot.inflight)
                   unregistering: 0
                   timeouts: \(snapshot.timeouts)

            """
        if let stats { out += "       avg_waittime: \(stats.averageWaitMicroseconds) usecs\n" }
        out += """
                service_estimates:
                   services: \(Int(snapshot.estimate.rounded(.up))) sec
                transactions:
                   last_replay: \(snapshot.lastReplayTransno)
                   peer_committed: \(snapshot.peerCommitted)
                   last_checked: \(snapshot.peerCommitted)

            """
        for isWrite in [false, true] {
            guard let averages = stats?.dataAverages(isWrite: isWrite) else { continue }
            out += "    \(isWrite ? "write" : "read")_data_averages:\n"
            out += "       bytes_per_rpc: \(averages.bytesPerRPC)\n"
            if averages.microsecondsPerRPC > 0 {
                let bytes = averages.bytesPerRPC, usecs = averages.microsecondsPerRPC
                // Bytes per microsecond is MB/s; two decimals as Lustre's "%u.%.02u".
                let hundredths = 100 * bytes / usecs % 100
                out += "       usecs_per_rpc: \(usecs)\n"
                out += "       MB_per_sec: \(bytes / usecs).\(hundredths < 10 ? "0" : "")\(hundredths)\n"
            }
        }
        return out
    }
}

import LibCFS
import Prometheus

/// Writes one scrape's series into a fresh registry, refusing what swift-prometheus would trap on:
/// a name already used with another type or help text (two stats files could otherwise produce
/// `lustre_x` as a counter and a gauge). The refused series is logged and left out.
final class ExpositionWriter {
    let registry: PrometheusCollectorRegistry
    private var families: [String: (gauge: Bool, help: String)] = [:]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// `lustre_<metric>` as a counter.
    func counter(_ metric: String, help: String, labels: [(String, String)], value: UInt64) {
        guard admit(metric, gauge: false, help: help) else { return }
        registry.makeCounter(descriptor: descriptor(metric, help), labels: labels)
            .increment(by: Int64(clamping: value))
    }

    /// `lustre_<metric>` as a gauge.
    func gauge(_ metric: String, help: String, labels: [(String, String)], value: Double) {
        guard admit(metric, gauge: true, help: help) else { return }
        registry.makeGauge(descriptor: descriptor(metric, help), labels: labels).set(value)
    }

    private func descriptor(_ metric: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "lustre", metricName: metric, unitName: "", helpText: help)
    }

    private func admit(_ metric: String, gauge: Bool, help: String) -> Bool {
        if let known = families[metric] {
            guard known.gauge == gauge, known.help == help else {
                CDEBUG(.info, "metrics: lustre_\(metric) already exported as another type or help; skipped")
                return false
            }
            return true
        }
        families[metric] = (gauge, help)
        return true
    }
}

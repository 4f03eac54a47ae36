import Logging

/// A swift-log handler that writes through Lustre's debug log, so code (and
/// dependencies) using `Logger` land in the same ring and stderr format as
/// `CDEBUG`, under the same `debug` mask.
///
/// Bootstrap once per process: `LoggingSystem.bootstrap(LustreLogHandler.init)`.
///
/// Levels map to mask bits: trace → `trace`, debug → `other`, info → `info`,
/// notice → `console`, warning → `warning`, error → `error`, critical →
/// `emerg`.  `logLevel` follows the mask, so a `logger.debug(…)` with `other`
/// off is dropped by swift-log before its message is built.
public struct LustreLogHandler: LogHandler {
    /// The logger's label, printed in front of each message (`lnet: …`).
    public let label: String

    /// Metadata attached to every message of this handler.
    public var metadata: Logger.Metadata = [:]

    private var floor: Logger.Level = .trace

    /// A handler for the logger called `label`.
    public init(label: String) {
        self.label = label
    }

    /// The lowest level kept: the higher of the level set on the logger and
    /// the lowest level whose mask bit is on.
    public var logLevel: Logger.Level {
        get { Swift.max(floor, LustreLogHandler.lowestEnabledLevel()) }
        set { floor = newValue }
    }

    /// Metadata for one key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one event to the debug log if its level's mask bit is enabled.
    public func log(event: LogEvent) {
        let mask = LustreLogHandler.mask(for: event.level)
        guard LustreDebug.isEnabled(mask) else { return }
        var text = label.isEmpty ? event.message.description : "\(label): \(event.message)"
        let merged = event.metadata.map { metadata.merging($0) { _, new in new } } ?? metadata
        if !merged.isEmpty {
            text += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        if let error = event.error { text += " error=\(error)" }
        LustreDebug.log(mask, text, file: event.file, function: event.function, line: event.line)
    }

    /// The debug mask bit a swift-log level writes under.
    public static func mask(for level: Logger.Level) -> DebugMask {
        switch level {
        case .trace: .trace
        case .debug: .other
        case .info: .info
        case .notice: .console
        case .warning: .warning
        case .error: .error
        case .critical: .emerg
        }
    }

    static func lowestEnabledLevel() -> Logger.Level {
        for level in Logger.Level.allCases where LustreDebug.isEnabled(mask(for: level)) {
            return level
        }
        return .notice
    }
}

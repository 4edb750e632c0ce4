import Logging

/// The error log: a swift-log handler that formats on the caller and writes through a
/// `BackgroundWriter`, so a selector loop never blocks on a slow or full stderr.
public struct ErrorLogHandler: LogHandler {
    /// The process-wide writer for stderr; `flush()` at exit writes what is queued.
    static let writer = BackgroundWriter(destination: .stderr, name: "flaks-errorlog")

    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String) { self.label = label }

    /// Writes everything queued (call before exiting).
    public static func flush() { writer.stop() }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        write(level: event.level, message: event.message, metadata: event.metadata)
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        write(level: level, message: message, metadata: explicit)
    }

    private func write(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?) {
        var all = metadata
        if let explicit { all.merge(explicit) { _, new in new } }
        let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = "\(CivilTime.iso8601(wallSeconds())) \(level) \(label):\(meta) \(message)\n"
        Self.writer.append(Array(text.utf8))
    }
}

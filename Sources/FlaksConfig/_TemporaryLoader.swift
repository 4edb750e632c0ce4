// TEMPORARY — removed when the loader branch lands.
public enum ManifestLoader {
    public static func load(path: String, environment: [String: String]) throws(ManifestErrors) -> ServerConfig {
        throw ManifestErrors(errors: [ManifestError(file: path, line: 1, column: 1, keyPath: "", message: "loader not available yet")])
    }
}
public struct ManifestError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String; public var line: Int; public var column: Int; public var keyPath: String; public var message: String
    public var description: String { "\(file):\(line):\(column): \(keyPath): \(message)" }
}
public struct ManifestErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ManifestError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
extension ServerConfig {
    public func changes(from old: ServerConfig) -> [String] { self == old ? [] : ["configuration changed"] }
}

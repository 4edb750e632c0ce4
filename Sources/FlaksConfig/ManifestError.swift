/// One problem in a manifest, with where it is and what was expected:
/// `config.yaml:14:7: hosts[1].routes[0]: expected exactly one of static, cgi, redirect, respond, handler, proxy, fastcgi; found static and cgi`.
/// Line and column are 1-based; 0 means the problem is with the file as a whole (it could not
/// be read), and the description then leaves them out. An empty key path is left out too.
public struct ManifestError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// Where in the document: `hosts[1].routes[0].status`, or "" for the document itself.
    public var keyPath: String
    public var message: String

    public init(file: String, line: Int, column: Int, keyPath: String, message: String) {
        self.file = file; self.line = line; self.column = column; self.keyPath = keyPath; self.message = message
    }

    public var description: String {
        let position = line > 0 ? "\(file):\(line):\(column)" : file
        return keyPath.isEmpty ? "\(position): \(message)" : "\(position): \(keyPath): \(message)"
    }
}

/// Every problem found in one load, in document order (a load reports all of them at once).
public struct ManifestErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ManifestError]
    public init(_ errors: [ManifestError]) { self.errors = errors }
    /// One error per line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// Something a manifest may say but almost certainly should not (a static root that is "/"):
/// it loads, and the warning travels with the config (`ServerConfig.warnings`) for `flaks check`
/// to print and `flaks serve` (and a reload) to log. Same position rules as `ManifestError`:
/// `config.yaml:5:17: warning: hosts[0].routes[0].static: static root "/" is the file system root: ...`.
public struct ManifestWarning: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// Where in the document: `hosts[0].routes[2].static`.
    public var keyPath: String
    public var message: String

    public init(file: String, line: Int, column: Int, keyPath: String, message: String) {
        self.file = file; self.line = line; self.column = column; self.keyPath = keyPath; self.message = message
    }

    public var description: String {
        let position = line > 0 ? "\(file):\(line):\(column)" : file
        return keyPath.isEmpty ? "\(position): warning: \(message)" : "\(position): warning: \(keyPath): \(message)"
    }
}

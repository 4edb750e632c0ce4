import Foundation
@testable import FlaksConfig

/// A temp directory with `sites/example` and `sites/example/cgi-bin`, removed on deinit.
final class Fixture {
    let dir: String
    init() throws {
        let base = FileManager.default.temporaryDirectory.path + "/flaks-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base + "/sites/example/cgi-bin", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: base + "/sites/file.txt", contents: Data("x".utf8))
        dir = base
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func load(_ yaml: String, env: [String: String] = [:]) throws(ManifestErrors) -> ServerConfig {
        try ManifestLoader.load(yaml: yaml, file: "config.yaml", directory: dir, environment: env)
    }

    /// The error lines of a manifest that must fail, with the temp dir written as "$DIR".
    func errors(_ yaml: String, env: [String: String] = [:]) -> [String] {
        do {
            _ = try load(yaml, env: env)
            return ["(loaded without errors)"]
        } catch {
            return error.errors.map { $0.description.replacingOccurrences(of: dir, with: "$DIR") }
        }
    }
}

/// The smallest valid manifest body after `hosts:` for tests about other sections.
let minimalHosts = """
hosts:
  - names: ["*"]
    routes:
      - path: /
        respond: ok
"""

import Flaks
import Foundation

/// The payload of the TechEmpower JSON test.
struct Message: Codable, Sendable { let message: String }

// Usage: FlaksJSON CONFIG.yaml — the manifest mounts `handler: app` at "/".
// /json is a blocking view (worker pool), /json-async an async view (a Task).
let app = App()
app.get("/json") { _ in try .json(Message(message: "Hello, World!")) }
app.get("/json-async") { _ async throws in try .json(Message(message: "Hello, World!")) }
let config = CommandLine.arguments.dropFirst().first ?? "config.yaml"
do { try app.run(config: config) } catch {
    FileHandle.standardError.write(Data("FlaksJSON: \(error)\n".utf8))
    exit(1)
}

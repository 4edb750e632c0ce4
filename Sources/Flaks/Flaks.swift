/// Public API for app authors: register view functions on an `App` and run a server.
///
/// ```swift
/// import Flaks
/// let app = App()
/// app.get("/hello/<name>", endpoint: "hello") { req in .text("Hello, \(req.parameter("name") ?? "")!") }
/// try app.run(config: "config.yaml")
/// ```
@_exported import FlaksConfig
@_exported import FlaksHandlers
@_exported import FlaksHTTP
@_exported import FlaksServer

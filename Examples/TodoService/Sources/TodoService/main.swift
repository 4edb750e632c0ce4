import Foundation
import TodoAPI

// Usage: TodoService [config.yaml]. SIGHUP reloads the manifest; SIGTERM drains and exits.
let path = CommandLine.arguments.dropFirst().first ?? "config.yaml"
do { try makeApp().run(config: path) } catch {
    FileHandle.standardError.write(Data("TodoService: \(error)\n".utf8))
    exit(1)
}

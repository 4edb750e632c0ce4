import ArgumentParser
import Flaks

/// `flaks route [--host H] METHOD URL`: which host and route match, and what would serve the request.
struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Explain which host and route a request matches and what would serve it (exit 0 when a route matches).")

    @OptionGroup var manifest: ManifestOptions

    @Option(help: "The Host header (default: taken from an absolute URL, else none).")
    var host: String?

    @Argument(help: "GET, POST, ...")
    var method: String

    @Argument(help: "A path (/docs/a?b=1) or an absolute URL (http://docs.localhost/a).")
    var url: String

    func run() throws {
        let config: ServerConfig
        do { config = try ManifestLoader.load(path: manifest.config, environment: ProcessEnvironment.current()) } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        do {
            let (text, matched) = try RouteExplainer.explain(config: config, method: method, url: url, host: host)
            print(text)
            if !matched { throw ExitCode(1) }
        } catch let e as SiteError {
            printError(e.description)
            throw ExitCode(1)
        }
    }
}

import ArgumentParser
import Flaks

/// `flaks check`: validate the manifest and print the route tree, like `nginx -t`. The loader's
/// warnings (a static root that is "/", a cgi directory that is /usr/bin) go to stderr; exit 0.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate the manifest and print its hosts and routes (exit 0 or 1).")

    @OptionGroup var manifest: ManifestOptions

    func run() throws {
        let config: ServerConfig
        do { config = try ManifestLoader.load(path: manifest.config, environment: ProcessEnvironment.current()) } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        // Warnings go to stderr, one line each, like compilers and `nginx -t`; they do not fail the check.
        for w in config.warnings { printError(w.description) }
        let files = SiteChecks.run(config)
        for w in files.warnings { printError(w) }
        if !files.errors.isEmpty {
            for e in files.errors { printError(e) }
            throw ExitCode(1)
        }
        print(RouteTable.describe(config))
        for block in files.report { print(block) }
        print("\(manifest.config): ok")
    }
}

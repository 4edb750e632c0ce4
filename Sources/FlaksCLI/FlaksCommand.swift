import ArgumentParser
import Flaks

/// `flaks`: serve a manifest, check it, or talk to a running server.
@main
struct FlaksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flaks",
        abstract: "A web server for several small sites and services, configured by one YAML manifest.",
        version: FlaksVersion.string,
        subcommands: [Serve.self, Check.self, Reload.self, RouteCommand.self, Probe.self, Cert.self],
        defaultSubcommand: Serve.self)
}

/// Options shared by commands that read the manifest.
struct ManifestOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The manifest to load.")
    var config: String = "config.yaml"
}

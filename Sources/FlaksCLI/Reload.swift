import ArgumentParser
import Flaks
#if canImport(Glibc)
import Glibc
#endif

/// `flaks reload`: validate the manifest, then send SIGHUP to the server named by the pid file.
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate the manifest and signal the running server to reload it.")

    @OptionGroup var manifest: ManifestOptions

    @Option(help: "The pid file written by `flaks serve --pid-file`.")
    var pidFile: String = "flaks.pid"

    func run() throws {
        do { _ = try ManifestLoader.load(path: manifest.config, environment: ProcessEnvironment.current()) } catch {
            printError(error.description)
            printError("flaks reload: manifest invalid; the server keeps its current configuration")
            throw ExitCode(1)
        }
        guard let pid = PidFile.read(pidFile) else {
            printError("flaks reload: cannot read pid file \(pidFile)")
            throw ExitCode(1)
        }
        guard kill(pid, SIGHUP) == 0 else {
            printError("flaks reload: cannot signal pid \(pid) (errno \(errno))")
            throw ExitCode(1)
        }
        print("flaks reload: sent SIGHUP to \(pid)")
    }
}

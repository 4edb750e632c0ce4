import ArgumentParser
import Flaks
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `flaks serve`: load the manifest, serve until SIGTERM/SIGINT/SIGQUIT; SIGHUP reloads.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the sites of a manifest (the default command).")

    @OptionGroup var manifest: ManifestOptions

    @Option(help: "Write the server's pid to this file (used by `flaks reload`).")
    var pidFile: String?

    func run() throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let config: ServerConfig
        do { config = try ManifestLoader.load(path: manifest.config, environment: ProcessEnvironment.current()) } catch {
            printError(error.description)
            printError("flaks: \(manifest.config): invalid manifest, not starting")
            throw ExitCode(1)
        }
        SignalHandling.blockServerSignals()
        let server: Server
        do { server = try Server(config: config) } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        do { try server.start() } catch {
            printError("flaks: cannot start: \(error)")
            throw ExitCode(2)
        }
        if let pidFile { PidFile.write(pidFile) }
        defer { if let pidFile { PidFile.remove(pidFile) } }
        SignalHandling.run(server)
    }
}

func printError(_ s: String) {
    var line = s
    if !line.hasSuffix("\n") { line += "\n" }
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

/// Writing and reading the pid file.
enum PidFile {
    static func write(_ path: String) {
        guard let f = fopen(path, "w") else { printError("flaks: cannot write pid file \(path)"); return }
        fputs("\(getpid())\n", f)
        fclose(f)
    }
    static func remove(_ path: String) { unlink(path) }
    static func read(_ path: String) -> pid_t? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 32)
        guard fgets(&buf, 32, f) != nil else { return nil }
        let s = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return pid_t(s.filter { $0.isNumber })
    }
}

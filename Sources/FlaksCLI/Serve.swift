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

    @Flag(help: "Reload when the manifest changes on disk (editor saves, Kubernetes ConfigMap updates).")
    var watch = false

    func run() throws {
        LoggingSystem.bootstrap { ErrorLogHandler(label: $0) }
        defer { ErrorLogHandler.flush() }
        let config: ServerConfig
        do { config = try ManifestLoader.load(path: manifest.config, environment: ProcessEnvironment.current()) } catch {
            printError(error.description)
            printError("flaks: \(manifest.config): invalid manifest, not starting")
            throw ExitCode(1)
        }
        SignalHandling.blockServerSignals()
        // What a service forks off and abandons is ours to reap and, at exit, to kill.
        SignalHandling.becomeChildSubreaper()
        let server: Server
        do { server = try Server(config: config) } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        for w in config.warnings { server.logger.warning("\(w.description)") }
        do { try server.start() } catch {
            printError("flaks: cannot start: \(error)")
            throw ExitCode(2)
        }
        if let pidFile { PidFile.write(pidFile) }
        Server.releaseLoadingMemory()
        defer { if let pidFile { PidFile.remove(pidFile); unlink(ReloadStatus.path(for: pidFile)) } }
        var reloads = 0
        SignalHandling.run(server, watch: watch) { outcome in
            reloads += 1
            Server.releaseLoadingMemory()
            if let pidFile { ReloadStatus.write(outcome, count: reloads, pidFile: pidFile) }
        }
    }
}

func printError(_ s: String) {
    var line = s
    if !line.hasSuffix("\n") { line += "\n" }
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

/// Writing and reading the pid file. Here and in `ReloadStatus`, fopen's "e" mode opens with
/// O_CLOEXEC: the reload status is written while the server may be spawning CGI children.
enum PidFile {
    static func write(_ path: String) {
        guard let f = fopen(path, "we") else { printError("flaks: cannot write pid file \(path)"); return }
        fputs("\(getpid())\n", f)
        fclose(f)
    }
    static func remove(_ path: String) { unlink(path) }
    static func read(_ path: String) -> pid_t? {
        guard let f = fopen(path, "re") else { return nil }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 32)
        guard fgets(&buf, 32, f) != nil else { return nil }
        let s = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return pid_t(s.filter { $0.isNumber })
    }
}

/// The outcome of the last reload, written next to the pid file for `flaks reload` to read:
/// first line `reload N ok generation G` or `reload N failed`, then the changes or the errors.
enum ReloadStatus {
    static func path(for pidFile: String) -> String { pidFile + ".reload" }

    static func write(_ outcome: Server.ReloadOutcome, count: Int, pidFile: String) {
        var text: String
        switch outcome {
        case .reloaded(let g, let changes):
            text = "reload \(count) ok generation \(g)\n"
            text += changes.isEmpty ? "nothing changed\n" : changes.map { $0 + "\n" }.joined()
        case .failed(let errors):
            text = "reload \(count) failed\n" + errors.map { $0 + "\n" }.joined()
        }
        let final = path(for: pidFile), tmp = final + ".tmp"
        guard let f = fopen(tmp, "we") else { return }
        fputs(text, f)
        fclose(f)
        rename(tmp, final)
    }

    static func read(pidFile: String) -> String? {
        guard let f = fopen(path(for: pidFile), "re") else { return nil }
        defer { fclose(f) }
        var out = ""
        var buf = [CChar](repeating: 0, count: 4096)
        while fgets(&buf, Int32(buf.count), f) != nil {
            out += buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
        return out
    }
}

import ArgumentParser
import Flaks
#if canImport(Glibc)
import Glibc
#endif

/// `flaks reload`: validate the manifest, then send SIGHUP to the server named by the pid file.
struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Signal the running server (from its pid file) to reload its manifest; print the new generation or the errors.")

    @Option(help: "The pid file written by `flaks serve --pid-file`.")
    var pidFile: String = "flaks.pid"

    @Option(help: "Seconds to wait for the outcome.")
    var timeout: Double = 10

    func run() throws {
        guard let pid = PidFile.read(pidFile) else {
            printError("flaks reload: cannot read pid file \(pidFile)")
            throw ExitCode(1)
        }
        let before = ReloadStatus.read(pidFile: pidFile)
        guard kill(pid, SIGHUP) == 0 else {
            printError("flaks reload: cannot signal pid \(pid) (errno \(errno))")
            throw ExitCode(1)
        }
        // Wait (bounded) for the server to write the outcome of this reload.
        for _ in 0..<(Int(timeout * 50)) {
            if let now = ReloadStatus.read(pidFile: pidFile), now != before, now.hasPrefix("reload ") {
                var lines = now.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                let first = lines.removeFirst()
                let rest = lines.filter { !$0.isEmpty }
                if first.contains(" ok ") {
                    let generation = first.split(separator: " ").last.map(String.init) ?? "?"
                    print("flaks reload: pid \(pid) now serves generation \(generation)")
                    for l in rest { print("  \(l)") }
                    return
                }
                printError("flaks reload: the server rejected the manifest and keeps its current configuration:")
                for l in rest { printError(l) }
                throw ExitCode(1)
            }
            usleep(20_000)
        }
        printError("flaks reload: sent SIGHUP to \(pid) but saw no outcome within \(timeout) s (was it started with --pid-file \(pidFile)?)")
        throw ExitCode(1)
    }
}

import ArgumentParser
import Flaks

/// `flaks probe URL`: GET the URL over loopback; exit 0 on a 2xx (health checks in images without curl).
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "GET an http:// URL; exit 0 on 2xx, 1 otherwise.")

    @Argument(help: "For example http://127.0.0.1:8080/healthz")
    var url: String

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 5

    func run() throws {
        switch HTTPProbe.get(url, timeoutSeconds: timeout) {
        case .success(let status):
            print(status)
            if status / 100 != 2 { throw ExitCode(1) }
        case .failure(let message):
            printError("flaks probe: \(message)")
            throw ExitCode(1)
        }
    }
}

import ArgumentParser
import Flaks

/// `flaks cert`: a self-signed certificate and key for local development (trusted by nobody: tell
/// your client with `curl --cacert` or `-k`).
struct Cert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a self-signed certificate and key for local development (ECDSA P-256).")

    @Option(name: .customLong("name"), help: "A DNS name the certificate covers (repeat for more).")
    var names: [String] = ["localhost"]

    @Option(help: "Where to write: OUT.pem (certificate) and OUT.key (key, mode 0600).")
    var out: String = "localhost"

    @Option(help: "Days of validity.")
    var days: Int = 365

    func run() throws {
        do {
            let info = try DevelopmentCertificate.write(names: names, certPath: out + ".pem", keyPath: out + ".key", days: days)
            print(info)
            print("wrote \(out).pem and \(out).key")
        } catch {
            printError("flaks cert: \(error)")
            throw ExitCode(1)
        }
    }
}

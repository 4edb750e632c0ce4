import Foundation
import Testing
@testable import FlaksConfig

/// Warnings: what a manifest may say but almost certainly should not. The loader returns them on
/// the config (`ServerConfig.warnings`) for `flaks check` to print and `flaks serve` to log.
@Suite struct WarningTests {
    func manifest(_ routes: String) -> String {
        """
        hosts:
          - names: ["*"]
            routes:
        \(routes)
        """
    }

    func warnings(_ f: Fixture, _ routes: String) throws -> [String] {
        try f.load(manifest(routes)).warnings.map { $0.description.replacingOccurrences(of: f.dir, with: "$DIR") }
    }

    @Test func aStaticRootAtTheFileSystemRoot() throws {
        let f = try Fixture()
        #expect(try warnings(f, """
              - path: /
                static: /
        """) == [
            "config.yaml:5:17: warning: hosts[0].routes[0].static: static root \"/\" is the file system root: every file the server can read is served to anyone",
        ])
    }

    @Test func aSymlinkThatResolvesToTheRoot() throws {
        let f = try Fixture()
        try FileManager.default.createSymbolicLink(atPath: f.dir + "/everything", withDestinationPath: "/")
        try FileManager.default.createSymbolicLink(atPath: f.dir + "/programs", withDestinationPath: "/usr/../usr/bin")
        #expect(try warnings(f, """
              - path: /
                static: everything
              - path: /cgi-bin/
                cgi: programs/
        """) == [
            "config.yaml:5:17: warning: hosts[0].routes[0].static: static root \"$DIR/everything\" resolves to \"/\", the file system root: every file the server can read is served to anyone",
            "config.yaml:7:14: warning: hosts[0].routes[1].cgi: cgi directory \"$DIR/programs\" resolves to \"/usr/bin\", a system directory: any client can run the programs in it",
        ])
    }

    @Test(arguments: ["/usr/bin", "/bin", "/etc", "/proc", "/proc/self", "/sys", "/dev", "/tmp", "/usr/local/bin", "/root", "/boot"])
    func systemDirectories(dir: String) throws {
        guard FileManager.default.fileExists(atPath: dir) else { return }   // a machine without it
        let f = try Fixture()
        let got = try warnings(f, """
              - path: /cgi-bin/
                cgi: \(dir)
        """)
        #expect(got.count == 1)
        #expect(got.first?.hasPrefix("config.yaml:5:14: warning: hosts[0].routes[0].cgi: cgi directory \"\(dir)\"") == true)
        #expect(got.first?.hasSuffix("a system directory: any client can run the programs in it") == true)
    }

    @Test func ordinaryDirectoriesGiveNoWarning() throws {
        let f = try Fixture()
        try FileManager.default.createSymbolicLink(atPath: f.dir + "/link", withDestinationPath: f.dir + "/sites/example")
        #expect(try warnings(f, """
              - path: /
                static: sites/example
              - path: /l/
                static: link
              - path: /cgi-bin/
                cgi: sites/example/cgi-bin
              - path: /r
                respond: ok
        """) == [])
        #expect(try f.load(manifest("      - {path: /, respond: ok}")).warnings.isEmpty)
    }

    @Test func warningsComeInDocumentOrderAndKeepTheirFields() throws {
        let f = try Fixture()
        let config = try f.load(manifest("""
              - {path: /b/, cgi: /usr/bin}
              - {path: /a/, static: /}
        """))
        #expect(config.warnings.map(\.line) == [4, 5])
        #expect(config.warnings.first == ManifestWarning(
            file: "config.yaml", line: 4, column: 26, keyPath: "hosts[0].routes[0].cgi",
            message: "cgi directory \"/usr/bin\" is a system directory: any client can run the programs in it"))
    }
}

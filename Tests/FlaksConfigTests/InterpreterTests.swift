import Foundation
import Testing
@testable import FlaksConfig

/// `interpreters:` with a bare program name: looked up at load time in the PATH of the loading
/// process (the `environment` given to the loader) and stored as an absolute path, so the runner
/// never resolves it against the script's directory (posix_spawn takes a bare name as relative
/// to the child's working directory, which is the script's).
@Suite struct InterpreterTests {
    func manifest(_ interpreters: String) -> String {
        """
        hosts:
          - names: ["*"]
            routes:
              - path: /cgi-bin/
                cgi: sites/example/cgi-bin
                interpreters: \(interpreters)
        """
    }

    func interpreters(_ config: ServerConfig) -> [String: String] {
        guard case .cgi(let r) = config.hosts.first?.routes.first?.kind else { return [:] }
        return r.interpreters
    }

    func makeProgram(_ path: String, executable: Bool = true) {
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data("#!/bin/sh\n".utf8),
                                       attributes: [.posixPermissions: executable ? 0o755 : 0o644])
    }

    @Test func aBareNameBecomesTheAbsolutePathFoundInPATH() throws {
        let f = try Fixture()
        makeProgram(f.dir + "/first/tool", executable: false)     // not executable: skipped
        makeProgram(f.dir + "/second/tool")
        makeProgram(f.dir + "/third/tool")
        let path = "\(f.dir)/missing:\(f.dir)/first:\(f.dir)/second:\(f.dir)/third"
        let config = try f.load(manifest(#"{".sh": tool}"#), env: ["PATH": path])
        #expect(interpreters(config) == [".sh": f.dir + "/second/tool"])
    }

    /// A script directory holding an executable named like the interpreter does not matter.
    @Test func theScriptDirectoryIsNeverSearched() throws {
        let f = try Fixture()
        makeProgram(f.dir + "/sites/example/cgi-bin/sh")
        makeProgram(f.dir + "/bin/sh")
        let config = try f.load(manifest(#"{".sh": sh}"#), env: ["PATH": f.dir + "/bin"])
        #expect(interpreters(config) == [".sh": f.dir + "/bin/sh"])
    }

    /// Empty and relative PATH entries mean "the current directory" to execvp; they are skipped.
    @Test func relativeAndEmptyPATHEntriesAreSkipped() throws {
        let f = try Fixture()
        makeProgram(f.dir + "/sites/example/cgi-bin/only-here")
        let errors = f.errors(manifest(#"{".x": only-here}"#), env: ["PATH": ":sites/example/cgi-bin:.:" + f.dir + "/sites/example/cgi-bin/../nothing"])
        #expect(errors == [
            "config.yaml:6:30: hosts[0].routes[0].interpreters..x: interpreter \"only-here\" was not found in PATH (:sites/example/cgi-bin:.:$DIR/sites/example/cgi-bin/../nothing); give an absolute path or install it",
        ])
    }

    @Test func aNameNotFoundIsAManifestError() throws {
        let f = try Fixture()
        let errors = f.errors(manifest(#"{".py": no-such-interpreter-here, ".sh": sh}"#), env: ["PATH": "/usr/bin:/bin"])
        #expect(errors == [
            "config.yaml:6:31: hosts[0].routes[0].interpreters..py: interpreter \"no-such-interpreter-here\" was not found in PATH (/usr/bin:/bin); give an absolute path or install it",
        ])
    }

    /// Without PATH in the environment, the same default PATH CGI scripts get is searched.
    @Test func withoutPATHTheDefaultIsSearched() throws {
        let f = try Fixture()
        let config = try f.load(manifest(#"{".sh": sh}"#), env: [:])
        let found = try #require(interpreters(config)[".sh"])
        #expect(["/usr/local/bin/sh", "/usr/bin/sh", "/bin/sh"].contains(found))
    }

    /// A program with a "/" is not looked up: absolute stays, relative resolves against the manifest.
    @Test func pathsAreNotLookedUp() throws {
        let f = try Fixture()
        let config = try f.load(manifest(#"{".py": /opt/py/bin/python3, ".php": bin/php}"#), env: ["PATH": "/nowhere"])
        #expect(interpreters(config) == [".py": "/opt/py/bin/python3", ".php": f.dir + "/bin/php"])
    }
}

import Foundation
import Testing
@testable import FlaksConfig
#if canImport(Glibc)
import Glibc
#endif

@Suite struct FileSystemTests {
    /// The manifest is read again on every reload, while other threads may be spawning CGI
    /// children: its descriptor must be close-on-exec, or a child spawned at that moment keeps it.
    @Test func theManifestIsOpenedCloseOnExec() throws {
        let f = try Fixture()
        let fd = FileSystem.openForReading(f.dir + "/sites/file.txt")
        #expect(fd >= 0)
        defer { _ = close(fd) }
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
        #expect(FileSystem.openForReading(f.dir + "/missing") == -1)
    }

    @Test func readFileReadsAndNamesFailures() throws {
        let f = try Fixture()
        guard case .success(let text) = FileSystem.readFile(f.dir + "/sites/file.txt") else { Issue.record("no text"); return }
        #expect(text == "x")
        guard case .failure(let e) = FileSystem.readFile(f.dir + "/missing") else { Issue.record("read a missing file"); return }
        #expect(e.message == "cannot open: No such file or directory")
    }
}

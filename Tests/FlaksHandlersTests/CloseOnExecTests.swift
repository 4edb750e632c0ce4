import FlaksConfig
import FlaksTestSupport
import Foundation
import Testing
@testable import FlaksHandlers
#if canImport(Glibc)
import Glibc
#endif

/// Every descriptor the handlers open is close-on-exec: a CGI child spawned by another thread at
/// that moment must not inherit it (an exec keeps every descriptor without FD_CLOEXEC; the spawn's close_range is a second guard).
@Suite("Descriptors are close-on-exec")
struct CloseOnExecTests {
    static func isCloseOnExec(_ fd: Int32) -> Bool {
        let flags = fcntl(fd, F_GETFD)
        return flags >= 0 && flags & FD_CLOEXEC != 0
    }

    @Test func theDirectoryListingStream() throws {
        let fx = try StaticFixture()
        let root = StaticRoot(path: fx.root)
        guard case .fd(let dir) = root.open("", flags: oPath | O_DIRECTORY) else { Issue.record("no root"); return }
        defer { _ = close(dir) }
        #expect(Self.isCloseOnExec(dir))
        guard case .fd(let readable) = root.open("", flags: O_RDONLY | O_DIRECTORY) else { Issue.record("no root"); return }
        defer { _ = close(readable) }
        // The duplicate the stream is made on: close-on-exec from the start (glibc's fdopendir sets
        // the flag too, but a child spawned between a plain dup() and fdopendir would inherit it).
        let copy = DirectoryListing.duplicate(readable)
        #expect(copy >= 0 && copy != readable)
        #expect(Self.isCloseOnExec(copy))
        _ = close(copy)
        let stream = try #require(DirectoryListing.openStream(readable))
        defer { closedir(stream) }
        let fd = dirfd(stream)
        #expect(fd >= 0 && fd != readable)
        #expect(Self.isCloseOnExec(fd))
    }

    @Test func filesOpenedUnderAStaticRoot() throws {
        let fx = try StaticFixture()
        for forceFallback in [false, true] {
            let root = StaticRoot(path: fx.root, forceFallback: forceFallback)
            guard case .fd(let fd) = root.open("index.html", flags: O_RDONLY | O_NONBLOCK) else { Issue.record("no file"); continue }
            defer { _ = close(fd) }
            #expect(Self.isCloseOnExec(fd), "forceFallback: \(forceFallback)")
        }
    }
}

import FlaksTestSupport
import FlaksConfig
import CFlaksLinux
import FlaksHTTP
import Foundation
import Synchronization
import Testing
@testable import FlaksHandlers
#if canImport(Glibc)
import Glibc
#endif

/// A monotonic clock the test moves by hand, to step over the cache's revalidation window.
final class ManualClock: Sendable {
    private let t = Mutex<UInt64>(1_000_000_000)
    func now() -> UInt64 { t.withLock { $0 } }
    func advance(seconds: Double) { t.withLock { $0 += UInt64(seconds * 1e9) } }
}

/// The static handler's cache of open files: hits within the revalidation window, changes on disk
/// seen after it, safety rules re-applied when a path changes, and the bounds.
@Suite("Static file cache")
struct StaticCacheTests {
    let fx: StaticFixture
    let clock = ManualClock()
    init() throws { fx = try StaticFixture() }

    /// A handler whose cache uses the manual clock and sees every file as settled (ctime > 1 s ago),
    /// so small files are held as bytes.
    func handler(_ f: (inout StaticRoute) -> Void = { _ in }, limits: StaticFileCache.Limits = .init(),
                 forceFallback: Bool = false) -> StaticFileHandler {
        var r = StaticRoute(root: fx.root)
        f(&r)
        let clock = self.clock
        let cache = StaticFileCache(limits: limits, now: { clock.now() },
                                    wallNow: { StaticFileCache.realtime() + 10_000_000_000 })
        return StaticFileHandler(r, root: StaticRoot(path: fx.root, forceFallback: forceFallback), cache: cache)
    }

    func run(_ h: StaticFileHandler, _ remainder: String, method: HTTPMethod = .GET, headers: [(String, String)] = []) -> Response {
        var hf = HeaderFields()
        for (k, v) in headers { hf.add(k, v) }
        let head = RequestHead(method: method, target: "/" + remainder, version: .http1_1, headers: hf)
        let req = Request(head: head, path: "/" + remainder, routePath: "/", remainder: remainder)
        switch h.handle(req) {
        case .response(let r): return r
        case .blocking(let job): return job()
        case .async, .cgi, .fastcgi: Issue.record("unexpected outcome"); return Response(status: .internalServerError)
        }
    }

    /// Rewrites a file's bytes in place (same inode), after a pause so its timestamps move on.
    func editInPlace(_ rel: String, _ text: String) {
        usleep(30_000)
        let fd = open(fx.base + "/" + rel, O_WRONLY | O_TRUNC)
        #expect(fd >= 0)
        _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func inode(_ rel: String) -> UInt64 {
        var st = stat()
        _ = stat(fx.base + "/" + rel, &st)
        return UInt64(st.st_ino)
    }

    @Test func smallFilesAreHeldAsBytesAndLargeOnesAsDescriptors() {
        let h = handler()
        let small = run(h, "about.html")
        guard case .bytes(let b) = small.body else { Issue.record("expected bytes"); return }
        #expect(b == Array("<h1>about</h1>\n".utf8))
        #expect(small.headers["Content-Type"] == "text/html; charset=utf-8")
        let big = run(h, "assets/big.bin")
        guard case .file = big.body else { Issue.record("expected a file region"); return }
        #expect(body(big) == fx.big)
        #expect(h.cache.usage.entries == 2)
    }

    @Test func aFileStillBeingWrittenIsNotCopiedIntoMemory() throws {
        // A wall clock within the settle window after the file's last change: served from its
        // descriptor, checked again at the next request; just past the window, held as bytes.
        var st = stat()
        #expect(stat(fx.base + "/root/about.html", &st) == 0)
        let id = FileIdentity(st)
        let offset = Mutex(0)
        var r = StaticRoute(root: fx.root)
        r.index = []
        let root = StaticRoot(path: fx.root)
        let clock = self.clock
        let cache = StaticFileCache(now: { clock.now() }, wallNow: { id.ctimeNanos + offset.withLock { $0 } },
                                    fineDevice: root.dir.flatMap { StaticFileCache.fineGrainedDevice(of: $0.fd) })
        let window = cache.settleWindow(id)
        let h = StaticFileHandler(r, root: root, cache: cache)
        offset.withLock { $0 = window / 2 }
        guard case .file = run(h, "about.html").body else { Issue.record("expected a file region"); return }
        offset.withLock { $0 = window + 1_000_000 }
        guard case .bytes = run(h, "about.html").body else { Issue.record("expected bytes once settled"); return }
    }

    /// The settle window at its edges: 250 ms for a ctime with a sub-second part on the root's local
    /// file system, 2 s for whole seconds or another device (a file system mounted below the root).
    @Test(arguments: [(1_700_000_000_123_456_789, UInt64(7), 250_000_000),
                      (1_700_000_000_000_000_000, UInt64(7), 2_000_000_000),
                      (1_700_000_000_123_456_789, UInt64(8), 2_000_000_000)])
    func theSettleWindowFollowsTheTimeStampsGrain(ctime: Int, device: UInt64, window: Int) throws {
        let wall = Mutex(0)
        let cache = StaticFileCache(wallNow: { wall.withLock { $0 } }, fineDevice: 7)
        var st = stat()
        st.st_dev = __dev_t(device)
        st.st_ctim.tv_sec = ctime / 1_000_000_000
        st.st_ctim.tv_nsec = ctime % 1_000_000_000
        let id = FileIdentity(st)
        wall.withLock { $0 = ctime + window }
        #expect(!cache.settled(id))
        wall.withLock { $0 = ctime + window + 1 }
        #expect(cache.settled(id))
    }

    /// A root on ext4, tmpfs or overlayfs (where the temporary directory is, here) gets the short
    /// window; /proc is not one of the file systems that do.
    @Test func theRootsFileSystemDecidesTheShortWindow() throws {
        let root = StaticRoot(path: fx.root)
        let fd = try #require(root.dir?.fd)
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        // ext2/3/4, tmpfs, overlayfs: where the temporary directory is on a Linux box or container.
        if [0xEF53, 0x0102_1994, 0x794C_7630].contains(Int(cflaks_fs_type(fd))) {
            #expect(StaticFileCache.fineGrainedDevice(of: fd) == UInt64(st.st_dev))
        }
        let proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(proc) }
        #expect(StaticFileCache.fineGrainedDevice(of: proc) == nil)
    }

    @Test func anEditInPlaceIsServedAfterTheWindow() throws {
        try fx.write("root/edit.txt", "version-1")
        let h = handler()
        let first = run(h, "edit.txt")
        #expect(text(first) == "version-1")
        let ino = inode("root/edit.txt")
        editInPlace("root/edit.txt", "version-2")
        #expect(inode("root/edit.txt") == ino)
        // Within the window: the cached bytes (this is what makes it a cache).
        #expect(text(run(h, "edit.txt")) == "version-1")
        clock.advance(seconds: 1.1)
        let fresh = run(h, "edit.txt")
        #expect(text(fresh) == "version-2")
        #expect(fresh.headers["ETag"] != first.headers["ETag"])
        // A conditional with the old ETag is no longer 304.
        #expect(run(h, "edit.txt", headers: [("If-None-Match", first.headers["ETag"] ?? "")]).status == .ok)
    }

    @Test func aFileReplacedByRenameIsServedAfterTheWindow() throws {
        let h = handler()
        try fx.write("root/ren.txt", "old")
        let bigOld = [UInt8](repeating: 1, count: 70_000), bigNew = [UInt8](repeating: 2, count: 70_000)
        try Data(bigOld).write(to: URL(fileURLWithPath: fx.root + "/ren.bin"))
        #expect(text(run(h, "ren.txt")) == "old")
        #expect(body(run(h, "ren.bin")) == bigOld)
        try fx.write("root/ren.tmp", "new!")
        #expect(rename(fx.root + "/ren.tmp", fx.root + "/ren.txt") == 0)
        try Data(bigNew).write(to: URL(fileURLWithPath: fx.root + "/ren.tmp"))
        #expect(rename(fx.root + "/ren.tmp", fx.root + "/ren.bin") == 0)
        // Within the window the old file (bytes / still-open descriptor) is served whole.
        #expect(text(run(h, "ren.txt")) == "old")
        #expect(body(run(h, "ren.bin")) == bigOld)
        clock.advance(seconds: 1.1)
        #expect(text(run(h, "ren.txt")) == "new!")
        #expect(body(run(h, "ren.bin")) == bigNew)
    }

    @Test func aDeletedFileIs404AfterTheWindow() throws {
        let h = handler()
        try fx.write("root/gone.txt", "here")
        try Data(fx.big).write(to: URL(fileURLWithPath: fx.root + "/gone.bin"))
        #expect(run(h, "gone.txt").status == .ok)
        #expect(run(h, "gone.bin").status == .ok)
        #expect(h.cache.usage.entries == 2)
        unlink(fx.root + "/gone.txt")
        unlink(fx.root + "/gone.bin")
        clock.advance(seconds: 1.1)
        #expect(run(h, "gone.txt").status == .notFound)
        #expect(run(h, "gone.bin").status == .notFound)
        #expect(h.cache.usage.entries == 0)
        // With a fallback, the missing path gets the app again.
        let app = handler({ $0.fallback = "/index.html" })
        try fx.write("root/gone.txt", "back")
        #expect(text(run(app, "gone.txt")) == "back")
        unlink(fx.root + "/gone.txt")
        clock.advance(seconds: 1.1)
        #expect(text(run(app, "gone.txt")) == "<h1>home</h1>\n")
    }

    @Test(arguments: [false, true])
    func aSymlinkSwappedOutsideIsNeverServed(forceFallback: Bool) throws {
        let h = handler({ $0.dotfiles = true }, forceFallback: forceFallback)
        try FileManager.default.createDirectory(atPath: fx.root + "/sub1", withIntermediateDirectories: true)
        try fx.write("root/sub1/secret.txt", "inside secret")
        try fx.write("root/inside.txt", "INSIDE")
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: fx.root + "/swap.txt", withDestinationPath: "inside.txt")
        try fm.createSymbolicLink(atPath: fx.root + "/abs.txt", withDestinationPath: "inside.txt")
        try fm.createSymbolicLink(atPath: fx.root + "/dl", withDestinationPath: "sub1")
        #expect(text(run(h, "swap.txt")) == "INSIDE")
        #expect(text(run(h, "abs.txt")) == "INSIDE")
        #expect(text(run(h, "dl/secret.txt")) == "inside secret")
        // Swap each link atomically (rename over) to lead outside the root.
        func swap(_ name: String, to target: String) throws {
            try fm.createSymbolicLink(atPath: fx.root + "/" + name + ".new", withDestinationPath: target)
            #expect(rename(fx.root + "/" + name + ".new", fx.root + "/" + name) == 0)
        }
        try swap("swap.txt", to: "../outside/secret.txt")
        try swap("abs.txt", to: fx.outside + "/secret.txt")
        try swap("dl", to: "../outside/inner")
        for t in [0.0, 1.1, 2.2] {
            clock.advance(seconds: t)
            for path in ["swap.txt", "abs.txt", "dl/secret.txt"] {
                let r = run(h, path)
                #expect(!text(r).contains(StaticFixture.marker), "\(path) after \(t) s")
                if t > 0 { #expect([403, 404].contains(r.status.code), "\(path) -> \(r.status)") }
            }
        }
    }

    @Test func theCacheStaysWithinItsBounds() throws {
        var limits = StaticFileCache.Limits()
        limits.maxEntries = 4
        limits.maxBytes = 100
        limits.smallFileBytes = 64
        let h = handler(limits: limits)
        for i in 0..<20 { try fx.write("root/f\(i).txt", String(repeating: Character(String(i % 10)), count: 40)) }
        try Data(fx.big).write(to: URL(fileURLWithPath: fx.root + "/large.bin"))
        for round in 0..<3 {
            for i in 0..<20 {
                let r = run(h, "f\(i).txt")
                #expect(text(r) == String(repeating: Character(String(i % 10)), count: 40))
                let u = h.cache.usage
                #expect(u.entries <= 4 && u.bytes <= 100, "round \(round), file \(i): \(u)")
                if i % 5 == 0 { #expect(body(run(h, "large.bin")) == fx.big) }
            }
            clock.advance(seconds: 0.7)
        }
        // A file over the byte budget alone is still served, from its descriptor.
        limits.maxBytes = 10
        let tiny = handler(limits: limits)
        #expect(text(run(tiny, "f1.txt")) == String(repeating: "1", count: 40))
        #expect(tiny.cache.usage.bytes <= 10)
    }

    @Test func aNewPrecompressedSiblingIsNoticedAfterTheWindow() throws {
        let h = handler()
        let ae = [("Accept-Encoding", "br, gzip")]
        #expect(text(run(h, "assets/app.js", headers: ae)) == "console.log('app')\n")
        try fx.write("root/assets/app.js.br", "BR-APP")
        // "No sibling" is cached for the window...
        #expect(run(h, "assets/app.js", headers: ae).headers["Content-Encoding"] == nil)
        clock.advance(seconds: 1.1)
        let br = run(h, "assets/app.js", headers: ae)
        #expect(text(br) == "BR-APP")
        #expect(br.headers["Content-Encoding"] == "br")
        #expect(br.headers["Content-Type"] == "text/javascript; charset=utf-8")
        // ...and so is a sibling that goes away.
        unlink(fx.root + "/assets/app.js.br")
        clock.advance(seconds: 1.1)
        #expect(text(run(h, "assets/app.js", headers: ae)) == "console.log('app')\n")
        // A file named like a sibling is still its own representation when asked for directly.
        try fx.write("root/assets/app.js.br", "BR-APP")
        let direct = run(h, "assets/app.js.br")
        #expect(direct.headers["Content-Encoding"] == nil)
        #expect(direct.headers["Content-Type"] == "application/octet-stream")
    }

    @Test func rangesAndConditionalsOnCachedBytes() throws {
        let h = handler()
        try fx.write("root/digits.txt", "0123456789")
        let full = run(h, "digits.txt")
        guard case .bytes = full.body else { Issue.record("expected bytes"); return }
        let one = run(h, "digits.txt", headers: [("Range", "bytes=2-4")])
        #expect(one.status == .partialContent)
        #expect(text(one) == "234")
        #expect(one.headers["Content-Range"] == "bytes 2-4/10")
        let multi = run(h, "digits.txt", headers: [("Range", "bytes=0-0, 9-9")])
        #expect(multi.status == .partialContent)
        #expect(text(multi).contains("\r\n\r\n0\r\n") && text(multi).contains("\r\n\r\n9\r\n"))
        #expect(run(h, "digits.txt", headers: [("Range", "bytes=50-")]).status == .rangeNotSatisfiable)
        let etag = full.headers["ETag"] ?? ""
        #expect(run(h, "digits.txt", headers: [("If-None-Match", etag)]).status == .notModified)
        #expect(run(h, "digits.txt", headers: [("If-Match", "\"other\"")]).status == .preconditionFailed)
        #expect(run(h, "digits.txt", method: .HEAD).status == .ok)
    }

    @Test func indexFilesAreCachedAndStillFollowChanges() throws {
        let h = handler()
        #expect(text(run(h, "")) == "<h1>home</h1>\n")
        #expect(text(run(h, "")) == "<h1>home</h1>\n")
        unlink(fx.root + "/index.html")
        clock.advance(seconds: 1.1)
        #expect(run(h, "").status == .forbidden)
        #expect(run(h, "about.html/").status == .notFound)
    }

    // MARK: helpers

    func body(_ r: Response) -> [UInt8] {
        guard let b = bodyBytes(r) else { Issue.record("a static response is never a stream"); return [] }
        return b
    }

    func text(_ r: Response) -> String { String(decoding: body(r), as: UTF8.self) }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A temporary site for static-file tests: `root/` with files, dotfiles, symlinks (inside and
/// leading outside), a FIFO, and `outside/secret.txt` holding `StaticFixture.marker`, which no
/// response may ever contain. Removed on deinit.
public final class StaticFixture {
    public static let marker = "FLAKS-SECRET-MARKER-7f3a9c21"
    public let base: String
    public var root: String { base + "/root" }
    public var outside: String { base + "/outside" }
    public let big: [UInt8]

    public init() throws {
        var template = Array((NSTemporaryDirectory() + "flaks-static-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        base = String(cString: p)
        big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 / 251) }
        let fm = FileManager.default
        for d in ["root/assets", "root/docs/sub", "root/my dir", "root/.well-known", "root/.git", "root/emptydir", "outside/inner"] {
            try fm.createDirectory(atPath: base + "/" + d, withIntermediateDirectories: true)
        }
        try write("root/index.html", "<h1>home</h1>\n")
        try write("root/about.html", "<h1>about</h1>\n")
        try write("root/assets/style.css", "body { color: red }\n")
        try write("root/assets/style.css.gz", "GZIP-REPRESENTATION")
        try write("root/assets/style.css.br", "BROTLI-REPRESENTATION")
        try write("root/assets/app.js", "console.log('app')\n")
        try write("root/assets/only-gz.js", "PLAIN-JS\n")
        try write("root/assets/only-gz.js.gz", "GZ-ONLY")
        try write("root/assets/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n")
        try write("root/assets/photo.png", "PNGDATA")
        try write("root/assets/photo.png.gz", "SHOULD-NOT-BE-SERVED")
        try write("root/assets/data.unknownext", "??")
        try Data(big).write(to: URL(fileURLWithPath: root + "/assets/big.bin"))
        try write("root/docs/b.txt", "b")
        try write("root/docs/A.txt", "AAAA")
        try write("root/docs/<weird>&name.txt", "weird")
        try write("root/docs/.hidden", "hidden")
        try write("root/docs/sub/deep.txt", "deep")
        try write("root/my dir/x.txt", "x in my dir")
        try write("root/empty.txt", "")
        try write("root/.env", "DOTENV=1\n")
        try write("root/.git/config", "[core]\n")
        try write("root/.well-known/security.txt", "Contact: mailto:security@example.test\n")
        try write("outside/secret.txt", Self.marker + "\n")
        try write("outside/inner/secret.txt", Self.marker + " inner\n")
        try write("root/%2e%2e", "file literally named %2e%2e")
        try fm.createSymbolicLink(atPath: root + "/link-in.html", withDestinationPath: "index.html")
        try fm.createSymbolicLink(atPath: root + "/assets/up-link.html", withDestinationPath: "../about.html")
        try fm.createSymbolicLink(atPath: root + "/link-out.txt", withDestinationPath: "../outside/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/abs-out.txt", withDestinationPath: outside + "/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/dir-out", withDestinationPath: "../outside")
        try fm.createSymbolicLink(atPath: root + "/docs/link-out.txt", withDestinationPath: "../../outside/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/docs/link-in.txt", withDestinationPath: "../about.html")
        guard mkfifo(root + "/pipe", 0o644) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    public func write(_ rel: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: base + "/" + rel))
    }

    /// Writes `root/name`, `size` bytes of a pattern that differs at every offset the tests look at
    /// (varied by `salt`), and returns the bytes.
    @discardableResult
    public func patternFile(_ name: String, size: Int, salt: Int) throws -> [UInt8] {
        var b = [UInt8](repeating: 0, count: size)
        for i in b.indices { b[i] = UInt8(truncatingIfNeeded: i &* salt &+ i >> 9) }
        try Data(b).write(to: URL(fileURLWithPath: root + "/" + name))
        return b
    }

    /// Sets a file's modification time (seconds since 1970).
    public func touch(_ rel: String, mtime: Int) {
        var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, base + "/" + rel, &times, 0)
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few file-system questions the loader asks, through libc (no Foundation).
enum FileSystem {
    enum Kind { case missing, directory, other }

    static func kind(of path: String) -> Kind {
        var st = stat()
        guard stat(path, &st) == 0 else { return .missing }
        return (st.st_mode & S_IFMT) == S_IFDIR ? .directory : .other
    }

    /// The whole file as UTF-8 text, or an error message naming the errno.
    static func readFile(_ path: String) -> Result<String, ReadFailure> {
        let fd = openForReading(path)
        guard fd >= 0 else { return .failure(ReadFailure(message: "cannot open: \(describe(errno))")) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(message: "cannot read: \(describe(errno))"))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(ReadFailure(message: "the file is not valid UTF-8"))
        }
        return .success(text)
    }

    struct ReadFailure: Error { var message: String }

    /// Opens `path` read-only and close-on-exec (a reload reads the manifest while other threads
    /// may spawn CGI children); -1 (errno set) on failure.
    static func openForReading(_ path: String) -> Int32 {
        open(path, O_RDONLY | O_CLOEXEC)
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "/" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func describe(_ code: Int32) -> String {
        guard let s = strerror(code) else { return "errno \(code)" }
        return String(cString: s)
    }

    /// `path` made absolute against `directory` and with `.`, `..` and repeated slashes removed
    /// lexically (symlinks are not resolved).
    static func resolve(_ path: String, against directory: String) -> String {
        let joined = path.hasPrefix("/") ? path : directory + "/" + path
        var parts: [Substring] = []
        for p in joined.split(separator: "/") {
            if p == "." { continue }
            if p == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(p)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The PATH searched for a bare interpreter name when the loading process has none: the same
    /// default CGI scripts get.
    static let defaultSearchPath = "/usr/local/bin:/usr/bin:/bin"

    /// The first `dir/name` for `dir` in the colon-separated `searchPath` that is a regular file
    /// this process may execute (`execvp`'s search, POSIX XCU §2.9.1.1). Only absolute entries are
    /// searched: an empty or relative entry means the current directory, and the current directory
    /// of a CGI child is its script's, so such an entry would let a script's neighbour pose as the
    /// interpreter. The result is the path as found (a symlink such as /usr/bin/python3 is kept).
    static func findExecutable(_ name: String, searchPath: String) -> String? {
        for dir in searchPath.split(separator: ":", omittingEmptySubsequences: true) where dir.hasPrefix("/") {
            let candidate = resolve(name, against: String(dir))
            var st = stat()
            guard stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 else { continue }
            return candidate
        }
        return nil
    }

    /// Whether `path` is a regular file this process may execute.
    static func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    /// The canonical path (symlinks, `.` and `..` resolved), or nil when it cannot be resolved.
    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// Directories no site is served from: the root, where programs and libraries live, the
    /// system's configuration, home directories, world-writable temp directories (anyone on the
    /// machine could put a file or script there).
    static let systemDirectories: Set<String> = [
        "/", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib",
        "/usr/lib32", "/usr/lib64", "/usr/libexec", "/usr/local", "/usr/local/bin", "/usr/local/sbin",
        "/usr/local/lib", "/etc", "/boot", "/root", "/home", "/var", "/var/lib", "/var/log", "/var/run", "/run",
        "/tmp", "/var/tmp", "/dev/shm",
    ]

    /// Kernel file systems: no directory at or under these holds site content.
    static let kernelTrees = ["/proc", "/sys", "/dev"]

    /// Whether the canonical path `real` is a system directory (exactly) or lies in a kernel file system.
    static func isSystemDirectory(_ real: String) -> Bool {
        systemDirectories.contains(real) || kernelTrees.contains { real == $0 || real.hasPrefix($0 + "/") }
    }

    /// The directory part of an absolute path.
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux

/// O_PATH (Linux 2.6.39+): Glibc's module map does not export it (it is behind _GNU_SOURCE).
/// 010000000 on x86_64, arm64 and every other architecture Swift runs on (asm-generic/fcntl.h).
let oPath: Int32 = 0o10000000

/// The root directory of a static route, opened once (oPath | O_DIRECTORY) when the handler is
/// built, and every file open made relative to it so nothing outside can be reached.
///
/// Kept in an `OpenFile`, so the descriptor lives exactly as long as the handlers of the site
/// generation that use it (a reload builds new handlers; the old root closes with the last request).
public struct StaticRoot: Sendable {
    /// The root directory (oPath), or nil when it could not be opened.
    let dir: OpenFile?
    /// errno of the failed root open (0 when open).
    let openErrno: Int32
    /// The root's canonical path (realpath), for the fallback's prefix check.
    let realRoot: String
    /// Tests set this to exercise the pre-openat2 fallback on a new kernel.
    let forceFallback: Bool

    /// The outcome of opening a path under the root: a descriptor, or why not.
    public enum Opened: Sendable {
        case fd(Int32)
        case error(Int32)
    }

    /// Opens `path` as the root. Never throws: a missing root makes every request fail, which the
    /// handler turns into a 500 and the config checker (elsewhere) reports at load time.
    public init(path: String, forceFallback: Bool = false) {
        let fd = Glibc.open(path, oPath | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            dir = OpenFile(fd: fd)
            openErrno = 0
        } else {
            dir = nil
            openErrno = errno
        }
        var real = path
        if let p = realpath(path, nil) {
            real = String(cString: p)
            free(p)
        }
        realRoot = real
        self.forceFallback = forceFallback
    }

    /// Whether the kernel has openat2 (Linux 5.6+). Probed once.
    static let hasOpenat2: Bool = {
        let fd = cflaks_openat_beneath(AT_FDCWD, ".", oPath)
        if fd >= 0 { _ = close(fd); return true }
        return cflaks_errno() != ENOSYS
    }()

    /// Opens `relative` (no leading "/"; "" or "." = the root itself) beneath the root.
    /// The caller owns the returned descriptor. Symlinks are followed only while they stay inside the
    /// root: openat2 with RESOLVE_BENEATH fails them with EXDEV (so do absolute symlinks), and
    /// RESOLVE_NO_MAGICLINKS refuses /proc-style links.
    public func open(_ relative: String, flags: Int32) -> Opened {
        guard let root = dir else { return .error(openErrno) }
        let rel = relative.isEmpty ? "." : relative
        if !forceFallback && Self.hasOpenat2 {
            var attempts = 0
            while true {
                let fd = rel.withCString { cflaks_openat_beneath(root.fd, $0, flags) }
                if fd >= 0 { return .fd(fd) }
                let e = cflaks_errno()
                attempts += 1
                // EINTR: retry. EAGAIN: the kernel saw a rename race during ".." checks; retry a few
                // times, then give up (a path that keeps racing is an attack, not a file).
                if (e == EINTR || e == EAGAIN) && attempts < 4 { continue }
                return .error(e)
            }
        }
        return openByComponents(rel, root: root.fd, flags: flags)
    }

    /// Fallback for kernels without openat2 (before 5.6): walks the path one component at a time with
    /// oPath | O_NOFOLLOW from the root. A component that is a symlink is opened following it, and the
    /// result must still be inside the root: its /proc/self/fd path must have the root's realpath as
    /// prefix. The final object is reopened through /proc/self/fd with the requested flags, and only when
    /// it is a regular file or directory (no device or FIFO is ever opened for reading).
    func openByComponents(_ rel: String, root: Int32, flags: Int32) -> Opened {
        var cur = root
        var owned = false
        func release() { if owned { _ = close(cur) } }
        for comp in rel.split(separator: "/", omittingEmptySubsequences: true) where comp != "." {
            if comp == ".." { release(); return .error(EXDEV) }
            var fd = String(comp).withCString { openat(cur, $0, oPath | O_NOFOLLOW | O_CLOEXEC) }
            if fd < 0 { let e = errno; release(); return .error(e) }
            var st = stat()
            if fstat(fd, &st) != 0 { let e = errno; _ = close(fd); release(); return .error(e) }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                _ = close(fd)
                fd = String(comp).withCString { openat(cur, $0, oPath | O_CLOEXEC) }
                if fd < 0 { let e = errno; release(); return .error(e) }
                guard isInsideRoot(fd) else { _ = close(fd); release(); return .error(EXDEV) }
            }
            release()
            cur = fd
            owned = true
        }
        var st = stat()
        if fstat(cur, &st) != 0 { let e = errno; release(); return .error(e) }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFDIR else { release(); return .error(ENXIO) }
        if (flags & O_DIRECTORY) != 0 && kind != S_IFDIR { release(); return .error(ENOTDIR) }
        let fd = "/proc/self/fd/\(cur)".withCString { Glibc.open($0, (flags & ~O_NOFOLLOW) | O_CLOEXEC) }
        let e = errno
        release()
        return fd >= 0 ? .fd(fd) : .error(e)
    }

    /// True when the open descriptor's path is the root or below it.
    private func isInsideRoot(_ fd: Int32) -> Bool {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = "/proc/self/fd/\(fd)".withCString { readlink($0, &buf, buf.count - 1) }
        guard n > 0 else { return false }
        let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path == realRoot || path.hasPrefix(realRoot == "/" ? "/" : realRoot + "/")
    }
}

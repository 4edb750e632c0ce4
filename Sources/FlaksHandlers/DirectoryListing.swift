#if canImport(Glibc)
import Glibc
#endif

/// The opt-in HTML index of a directory (`listing: true`), like nginx `autoindex` / Caddy `browse`.
///
/// Reading a directory can be slow (large directories, cold caches), so the handler runs this on a
/// worker thread. Entries: sub-directories first, then files, each group sorted by name (ASCII
/// case-insensitive, then bytewise). Dotfiles are left out unless the route serves them; symlinks
/// are shown only when they resolve to a file or directory inside the root; FIFOs, sockets and
/// devices are never shown.
public enum DirectoryListing {
    /// One row of the listing.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var isDirectory: Bool
        public var size: Int
        /// Seconds since 1970.
        public var modified: Int
        public init(name: String, isDirectory: Bool, size: Int, modified: Int) {
            self.name = name; self.isDirectory = isDirectory; self.size = size; self.modified = modified
        }
    }

    /// Reads the entries of the open directory `dir` (any readable descriptor of it), which is `rel`
    /// under `root`. Returns nil when the directory cannot be read.
    static func read(dir: Int32, rel: String, root: StaticRoot, dotfiles: Bool) -> [Entry]? {
        guard let d = openStream(dir) else { return nil }
        defer { closedir(d) }
        rewinddir(d)
        var entries: [Entry] = []
        let prefix = rel.isEmpty || rel.hasSuffix("/") ? rel : rel + "/"
        while let ent = readdir(d) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw -> String in
                let bytes = raw.prefix { $0 != 0 }
                return String(decoding: bytes, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            if name.hasPrefix(".") && !dotfiles { continue }
            var st = stat()
            guard fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFLNK {
                // Show a symlink only as what it leads to, and only if that is inside the root.
                guard case .fd(let fd) = root.open(prefix + name, flags: oPath) else { continue }
                defer { _ = close(fd) }
                guard fstat(fd, &st) == 0 else { continue }
            }
            let kind = st.st_mode & S_IFMT
            guard kind == S_IFDIR || kind == S_IFREG else { continue }
            entries.append(Entry(name: name, isDirectory: kind == S_IFDIR, size: Int(st.st_size),
                                 modified: Int(st.st_mtim.tv_sec)))
        }
        return entries
    }

    /// A directory stream over a duplicate of `dir` (closedir closes the duplicate, not `dir`), or nil.
    static func openStream(_ dir: Int32) -> OpaquePointer? {
        let dupFD = duplicate(dir)
        guard dupFD >= 0 else { return nil }
        guard let d = fdopendir(dupFD) else { _ = close(dupFD); return nil }
        return d
    }

    /// A close-on-exec duplicate of `dir`, or -1. `dup` would clear the flag, and a CGI child
    /// spawned by another thread before fdopendir sets it again would inherit the directory.
    static func duplicate(_ dir: Int32) -> Int32 {
        fcntl(dir, F_DUPFD_CLOEXEC, 0)
    }

    /// Sub-directories first, then by name, ASCII case-insensitively, then bytewise.
    public static func sorted(_ entries: [Entry]) -> [Entry] {
        entries.sorted { a, b in
            if a.isDirectory != b.isDirectory { return a.isDirectory }
            let la = Array(a.name.utf8).map(lower), lb = Array(b.name.utf8).map(lower)
            if la != lb { return la.lexicographicallyPrecedes(lb) }
            return Array(a.name.utf8).lexicographicallyPrecedes(Array(b.name.utf8))
        }
    }

    private static func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b | 0x20 : b }

    /// The HTML page for `urlPath` (the decoded request path of the directory, ending in "/").
    /// Names are HTML-escaped; links are relative and percent-encoded (so "a:b" or "#x" stay file names).
    public static func html(urlPath: String, entries: [Entry], showParent: Bool) -> String {
        let title = "Index of " + ErrorPage.escapeHTML(urlPath)
        var h = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <title>\(title)</title>
        <style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}\
        td,th{padding:.2em 1.2em .2em 0;text-align:left}td.s{text-align:right}</style>
        </head><body><h1>\(title)</h1>
        <table><thead><tr><th>Name</th><th>Size</th><th>Last modified (UTC)</th></tr></thead><tbody>

        """
        if showParent { h += "<tr><td><a href=\"../\">../</a></td><td class=\"s\">-</td><td></td></tr>\n" }
        for e in sorted(entries) {
            let suffix = e.isDirectory ? "/" : ""
            let href = URIPath.encodeSegment(Substring(e.name), relativeSafe: true) + suffix
            let size = e.isDirectory ? "-" : humanSize(e.size)
            h += "<tr><td><a href=\"\(ErrorPage.escapeHTML(href))\">\(ErrorPage.escapeHTML(e.name))\(suffix)</a></td>"
            h += "<td class=\"s\" title=\"\(e.size) bytes\">\(size)</td><td>\(StaticDates.listingTimestamp(e.modified))</td></tr>\n"
        }
        h += "</tbody></table></body></html>\n"
        return h
    }

    /// "512 B", "1.5 KiB", "12 MiB": one decimal below 10 units, none above.
    public static func humanSize(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB"]
        var v = Double(n) / 1024
        var u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        if v < 10 {
            let tenths = Int((v * 10).rounded())
            return tenths % 10 == 0 ? "\(tenths / 10) \(units[u])" : "\(tenths / 10).\(tenths % 10) \(units[u])"
        }
        return "\(Int(v.rounded())) \(units[u])"
    }
}

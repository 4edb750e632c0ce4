#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHTTP

/// Serves a `cgi: DIR` mount (RFC 3875): finds the script named by the request path, builds its
/// environment, and hands a `CGIInvocation` to the server, which runs it and streams its output.
///
/// Nothing under the mount is ever served as a file: a path names a script that can run, or the
/// answer is 403/404. Resolution runs on the loop; it costs a few `openat2`/`fstat` calls, like a
/// static file lookup.
public struct CGIHandler: Handler {
    public let route: CGIRoute
    /// `cgi.timeout` and `cgi.max_processes`, carried to the process runner in the invocation.
    public let settings: CGISettings

    public init(route: CGIRoute, settings: CGISettings = CGISettings()) {
        self.route = route; self.settings = settings
    }

    public func handle(_ request: Request) -> HandlerOutcome {
        switch prepare(request) {
        case .success(let invocation): .cgi(invocation)
        case .failure(let error): .response(ErrorPage.response(error.status, detail: error.message))
        }
    }

    /// The invocation for `request`, or the error status to answer with.
    public func prepare(_ request: Request) -> Result<CGIInvocation, HTTPError> {
        let found: CGIScriptLocator.Found
        switch CGIScriptLocator.locate(remainder: request.remainder, root: route.root) {
        case .found(let f): found = f
        case .notFound: return .failure(HTTPError(.notFound))
        case .forbidden: return .failure(HTTPError(.forbidden))
        }
        let root = CGIScriptLocator.trimmedRoot(route.root)
        let filename = root + "/" + found.relativePath
        // How to run it: a configured interpreter for its extension, else the file itself if executable.
        let executable: String
        let arguments: [String]
        if let interpreter = interpreter(for: found.relativePath) {
            // The loader stores interpreters as absolute paths. A relative one (a route built in code)
            // is refused: posix_spawn would resolve it against the child's working directory, the
            // script's own, where a file of that name would run instead. A configuration error: 500.
            guard interpreter.hasPrefix("/") else { return .failure(HTTPError(.internalServerError)) }
            executable = interpreter
            arguments = [interpreter, filename]
        } else if found.isExecutable {
            executable = filename
            arguments = [filename]
        } else {
            return .failure(HTTPError(.forbidden))
        }
        let script = CGIEnvironment.Script(scriptName: scriptName(request, relativePath: found.relativePath),
                                           pathInfo: found.pathInfo, scriptFilename: filename, documentRoot: root)
        let environment = CGIEnvironment.block(request: request, route: route, script: script)
        let directory = filename.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(filename[..<$0]) } ?? root
        return .success(CGIInvocation(executable: executable, arguments: arguments, environment: environment,
                                      workingDirectory: directory.isEmpty ? "/" : directory,
                                      scriptPath: filename, body: request.body, settings: settings))
    }

    /// The interpreter configured for the script's extension (".py"), matched exactly, then lowercased.
    func interpreter(for relativePath: String) -> String? {
        if route.interpreters.isEmpty { return nil }
        let file = relativePath.split(separator: "/").last.map(String.init) ?? relativePath
        guard let dot = file.lastIndex(of: "."), dot != file.startIndex else { return nil }
        let ext = String(file[dot...])
        return route.interpreters[ext] ?? route.interpreters[ext.lowercased()]
    }

    /// SCRIPT_NAME: the URL path up to and including the script (the mount prefix + the script's segments).
    func scriptName(_ request: Request, relativePath: String) -> String {
        // The path without the remainder, compared and cut as bytes (a UTF-8 suffix starts on a
        // character's first byte, so the cut is a valid one).
        var path = request.path, rest = request.remainder
        var prefix = path.withUTF8 { p in
            rest.withUTF8 { r -> String? in
                guard p.count >= r.count else { return nil }
                let cut = p.count - r.count
                if let pb = p.baseAddress, let rb = r.baseAddress, memcmp(pb + cut, rb, r.count) != 0 { return nil }
                return String(utf8Bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: p[..<cut])))
            }
        } ?? request.routePath
        if prefix.utf8.last != UInt8(ascii: "/") { prefix += "/" }
        return prefix + relativePath
    }
}

/// An error status with a message, for handlers.
public struct HTTPError: Error, Sendable, Equatable {
    public var status: HTTPStatus
    public var message: String?
    public init(_ status: HTTPStatus, _ message: String? = nil) { self.status = status; self.message = message }
}

/// Finds the script a path names under a CGI root without ever leaving the root.
///
/// The script is the shortest run of leading path segments that names a regular file; the rest is
/// PATH_INFO (RFC 3875 §4.1.5). Every step opens with `openat2(RESOLVE_BENEATH)` relative to the
/// root's descriptor, so `..` and symlinks that lead outside are refused by the kernel. Where openat2
/// is unavailable, or refuses an absolute symlink (it refuses them all, even ones pointing inside),
/// the fully resolved `realpath` must lie under the root's real path. Dot segments and hidden names
/// (".htaccess", ".git") are never scripts.
public enum CGIScriptLocator {
    /// A script found under the root.
    public struct Found: Sendable, Equatable {
        /// The script's path relative to the root ("sub/env.py").
        public var relativePath: String
        /// "" or "/rest/of/path" (a trailing "/" of the request is kept: "/" alone is a valid PATH_INFO).
        public var pathInfo: String
        /// Some execute bit is set.
        public var isExecutable: Bool
    }

    /// The outcome of a lookup.
    public enum Lookup: Sendable, Equatable {
        case found(Found)
        /// Nothing by that name (or a hidden name).
        case notFound
        /// A directory, a special file, `..`, NUL, or a path leading outside the root.
        case forbidden
    }

    /// Looks up `remainder` (the path after the mount, no leading "/") under `root`.
    ///
    /// Walks the bytes with offsets: the split into segments and their re-joining as Strings cost
    /// ~7,000 of the ~16,000 instructions this took per request (`CGI=1 bench/instructions.sh`).
    public static func locate(remainder: String, root: String) -> Lookup {
        if remainder.isEmpty { return .forbidden }              // the mount directory itself
        var remainder = remainder
        return remainder.withUTF8 { path in locate(path, root: root) }
    }

    private static func locate(_ path: UnsafeBufferPointer<UInt8>, root: String) -> Lookup {
        let slash = UInt8(ascii: "/"), dot = UInt8(ascii: ".")
        guard let base = path.baseAddress, memchr(base, 0, path.count) == nil, path[0] != slash else { return .forbidden }
        // The end of the segment that starts at `start`: the next "/" or the end.
        func segmentEnd(_ start: Int) -> Int {
            var e = start
            while e < path.count && path[e] != slash { e += 1 }
            return e
        }
        // "." and ".." anywhere: refused before anything is opened.
        var start = 0
        while true {
            let end = segmentEnd(start)
            if path[start..<end].elementsEqual(CollectionOfOne(dot)) || path[start..<end].elementsEqual([dot, dot]) {
                return .forbidden
            }
            if end == path.count { break }
            start = end + 1
        }
        let rootFD = open(root, Int32(CFLAKS_O_PATH) | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { return .notFound }
        defer { close(rootFD) }
        var realRoot: String?
        start = 0
        while true {
            let end = segmentEnd(start)
            let isLast = end == path.count
            if start == end {
                // "dir/" (a directory) or "a//b" (never produced by the normaliser).
                return isLast ? .forbidden : .notFound
            }
            if path[start] == dot { return .notFound }
            let relative = String(utf8Bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: path[0..<end])))
            let kind: FileKind
            switch inspect(relative, under: rootFD, root: root, realRoot: &realRoot) {
            case .success(let k): kind = k
            case .failure(let e): return e.lookup
            }
            switch kind {
            case .directory:
                if isLast { return .forbidden }                 // the path ends at a directory
                start = end + 1
            case .other: return .forbidden
            case .regular(let executable):
                // PATH_INFO: the rest from the "/" after the script ("/" alone when the path ends there).
                let pathInfo = isLast ? "" : String(utf8Bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: path[end...])))
                return .found(Found(relativePath: relative, pathInfo: pathInfo, isExecutable: executable))
            }
        }
    }

    /// The root without trailing slashes (so "/" becomes "", and root + "/" + name is a clean path).
    static func trimmedRoot(_ root: String) -> String {
        if root.utf8.last != UInt8(ascii: "/") { return root }
        var r = Substring(root)
        while r.hasSuffix("/") { r = r.dropLast() }
        return String(r)
    }

    /// What a path segment names.
    private enum FileKind { case directory, regular(executable: Bool), other }

    /// Opens `relative` beneath the root (Int32(CFLAKS_O_PATH): no read permission needed, nothing is run) and stats it.
    private static func inspect(_ relative: String, under rootFD: Int32, root: String,
                             realRoot: inout String?) -> Result<FileKind, LookupError> {
        var fd = cflaks_openat_beneath(rootFD, relative, Int32(CFLAKS_O_PATH))
        if fd < 0 && (cflaks_errno() == ENOSYS || cflaks_errno() == EXDEV) {
            // No openat2, or a symlink RESOLVE_BENEATH refuses (it refuses every absolute symlink, also one
            // pointing inside): resolve fully and accept only a result still under the root's real path.
            if realRoot == nil { realRoot = realPath(root) }
            guard let base = realRoot, let full = realPath(trimmedRoot(root) + "/" + relative) else {
                return .failure(LookupError(.notFound))
            }
            guard full.hasPrefix(base == "/" ? "/" : base + "/") else { return .failure(LookupError(.forbidden)) }
            fd = Glibc.open(full, Int32(CFLAKS_O_PATH) | O_CLOEXEC)
        }
        guard fd >= 0 else {
            switch cflaks_errno() {
            case ENOENT, ENOTDIR, ENAMETOOLONG: return .failure(LookupError(.notFound))
            default: return .failure(LookupError(.forbidden))     // EXDEV (escapes the root), ELOOP, EACCES
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(LookupError(.forbidden)) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return .success(.directory)
        case S_IFREG: return .success(.regular(executable: st.st_mode & 0o111 != 0))
        default: return .success(.other)
        }
    }

    /// Wraps a lookup outcome as an Error for `Result`.
    private struct LookupError: Error {
        let lookup: Lookup
        init(_ l: Lookup) { lookup = l }
    }

    private static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}

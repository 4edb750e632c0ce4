#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig
import FlaksFastCGI
import FlaksHTTP

/// Serves a `fastcgi:` route (PHP through php-fpm): decides, on the loop, what a path names under
/// the route's `root`, and either hands a `FastCGIInvocation` to the server's executor or serves the
/// file itself.
///
/// What runs, what is served (docs/fastcgi.md, "Which file runs"):
/// - Only an existing regular file whose extension is in `extensions` (compared without regard to
///   case) goes to the responder. `SCRIPT_NAME`/`PATH_INFO` are split right after it:
///   `/app/x.php/extra` runs `x.php` with PATH_INFO `/extra`.
/// - A directory named with its slash gets the first of `index` that exists (a script or a file);
///   named without it, a 301 to the slash form (like nginx and the static handler); without an index, 403.
/// - A path naming nothing (a missing `.php` included) goes to `front_controller` with REQUEST_URI
///   intact (the `try_files $uri $uri/ /index.php` of WordPress, Laravel, DokuWiki); without one, 404.
/// - Any other existing file is served by a `StaticFileHandler` over the same root (types, ETag,
///   ranges, precompressed siblings): never through the responder, and a script is never served as a file.
/// - Every lookup is `openat2(RESOLVE_BENEATH)` from the root's descriptor (`StaticRoot`, the
///   confinement of static routes): `..` and symlinks leading outside are refused by the kernel.
///   Hidden names (`.env`, `.git`) are treated as absent (so they go to the front controller, which
///   answers them as the application sees fit, or 404).
///
/// A script or file named before costs no system call (the static handler's open-file cache, checked
/// again at most once a second); otherwise one `openat2` + `fstat` (two or three for a directory
/// index or a PATH_INFO split).
public struct FastCGIHandler: Handler {
    public let route: FastCGIRoute
    /// Where the executor connects: the route's address with a TCP name already resolved (at site
    /// build, off the loops), or a service's name.
    public let responder: FastCGIInvocation.Responder
    let root: StaticRoot
    /// The root without trailing slashes (DOCUMENT_ROOT; SCRIPT_FILENAME = root + "/" + script).
    let documentRoot: String
    /// `documentRoot` + "/", made once.
    let documentRootSlash: String
    /// Serves every non-script file under the root.
    let files: StaticFileHandler
    /// `index` names that are single visible file names.
    let indexNames: [String]
    /// `front_controller` relative to the root ("index.php"), when set and safe.
    let frontController: String?
    let timeoutNanos: UInt64

    /// - Parameter responder: the resolved responder (the site builder resolves a TCP host name); nil:
    ///   taken from the route as written.
    public init(route: FastCGIRoute, responder: FastCGIInvocation.Responder? = nil) {
        self.route = route
        self.responder = responder ?? FastCGIHandler.responder(of: route)
        root = StaticRoot(path: route.root)
        documentRoot = CGIScriptLocator.trimmedRoot(route.root)
        documentRootSlash = documentRoot + "/"
        files = StaticFileHandler(StaticRoute(root: route.root, index: [], listing: false), root: root)
        indexNames = route.index.filter { !$0.isEmpty && !$0.contains("/") && StaticPath.check($0, dotfiles: false) == .ok }
        if let f = route.frontController {
            let rel = String(f.drop { $0 == "/" })
            frontController = !rel.isEmpty && StaticPath.check(rel, dotfiles: false) == .ok ? rel : nil
        } else {
            frontController = nil
        }
        let (s, a) = route.timeout.components
        timeoutNanos = s < 0 ? 0 : UInt64(s) &* 1_000_000_000 &+ UInt64(a / 1_000_000_000)
    }

    /// The route's responder as written (a TCP host name is left for the executor to parse).
    public static func responder(of route: FastCGIRoute) -> FastCGIInvocation.Responder {
        switch route.responder {
        case .address(.unix(let path)): .unix(path)
        case .address(.tcp(let host, let port)): .tcp(host: host, port: port)
        case .service(let name): .service(name)
        }
    }

    public func handle(_ request: Request) -> HandlerOutcome {
        let rel = relativePath(request)
        switch resolve(rel) {
        case .script(let script, let pathInfo):
            return .fastcgi(invocation(request, script: script, pathInfo: pathInfo))
        case .file(let file):
            return serveFile(file, request)
        case .directoryWithoutSlash:
            var location = URIPath.directoryLocation(request.path)
            if let q = request.query { location += "?" + q }
            var r = ErrorPage.response(.movedPermanently)
            r.headers.add("Location", location)
            return .response(r)
        case .notFound:
            guard let front = frontController else { return .response(ErrorPage.response(.notFound)) }
            switch resolveFile(front) {
            case .script(let script, _): return .fastcgi(invocation(request, script: script, pathInfo: ""))
            case .file(let file): return serveFile(file, request)
            default: return .response(ErrorPage.response(.notFound))
            }
        case .forbidden:
            return .response(ErrorPage.response(.forbidden))
        case .badRequest:
            return .response(ErrorPage.response(.badRequest))
        }
    }

    // MARK: - Which file

    /// What a path below the root names.
    public enum Resolution: Sendable, Equatable {
        /// Run `script` (relative to the root) with this PATH_INFO ("" or starting with "/").
        case script(String, pathInfo: String)
        /// Serve this file (relative to the root) as a static file.
        case file(String)
        /// A directory named without its trailing slash: 301 to the slash form.
        case directoryWithoutSlash
        /// Nothing by that name (or a hidden name): the front controller, else 404.
        case notFound
        /// A directory without index, a special file, or a lookup the kernel refused for permissions.
        case forbidden
        /// NUL, backslash, a dot segment: never a name (400).
        case badRequest
    }

    /// The path below the root: a prefix mount uses the rest after its prefix, an exact mount the
    /// whole request path (as a static route does).
    func relativePath(_ request: Request) -> String {
        let raw = request.routePath.hasSuffix("/") ? request.remainder : request.path
        return String(raw.drop { $0 == "/" })
    }

    /// Resolves `rel` (decoded, normalised, no leading "/").
    public func resolve(_ rel: String) -> Resolution {
        switch StaticPath.check(rel, dotfiles: false) {
        case .ok: break
        case .invalid: return .badRequest
        case .hidden: return .notFound
        }
        let wantsDirectory = rel.isEmpty || rel.utf8.last == UInt8(ascii: "/")
        if wantsDirectory, let first = indexNames.first, files.cachedFile(rel + first) != nil {
            // The first index file is known (and `rel` so a directory): no lookup at all.
            let path = rel + first
            return isScript(path) ? .script(path, pathInfo: "") : .file(path)
        }
        switch inspect(rel) {
        case .regular:
            // "x.php/" cannot open as a file (ENOTDIR); do not depend on it.
            if wantsDirectory { return pathInfoSplit(rel) }
            return isScript(rel) ? .script(rel, pathInfo: "") : .file(rel)
        case .directory:
            guard wantsDirectory else { return .directoryWithoutSlash }
            for name in indexNames {
                let path = rel + name
                if case .regular = inspect(path) { return isScript(path) ? .script(path, pathInfo: "") : .file(path) }
            }
            return .forbidden
        case .other, .refused:
            return .forbidden
        case .missing:
            return pathInfoSplit(rel)
        }
    }

    /// A file given by configuration (the front controller): a script, a file, or missing.
    func resolveFile(_ rel: String) -> Resolution {
        guard case .regular = inspect(rel) else { return .notFound }
        return isScript(rel) ? .script(rel, pathInfo: "") : .file(rel)
    }

    /// `dir/x.php/rest`: the first leading run of segments ending in a script name that is a regular
    /// file is the script; the rest is PATH_INFO (RFC 3875 §4.1.5). Only segments with a script
    /// extension are tried, so a missing page costs no extra lookup.
    func pathInfoSplit(_ rel: String) -> Resolution {
        let segments = rel.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count > 1 else { return .notFound }
        for i in 0..<(segments.count - 1) where isScriptName(segments[i]) {
            let prefix = segments[0...i].joined(separator: "/")
            switch inspect(prefix) {
            case .regular:
                return .script(prefix, pathInfo: "/" + segments[(i + 1)...].joined(separator: "/"))
            case .directory:
                continue                                   // "x.php/" is a directory: look further
            case .missing, .other, .refused:
                return .notFound
            }
        }
        return .notFound
    }

    /// A name whose extension (after its last ".") is one of `extensions`, without regard to case.
    /// Bytes throughout (a Character search for the dot and a zip per extension cost ~2,000
    /// instructions of a PHP request).
    func isScriptName(_ name: Substring) -> Bool {
        let u = name.utf8
        guard let dot = u.lastIndex(of: UInt8(ascii: ".")), dot != u.startIndex else { return false }
        let ext = u[dot...]
        let count = ext.count
        // ASCII letters folded (the loader lowercases `extensions`; a route made in code may not have).
        for e in route.extensions where e.utf8.count == count {
            var i = ext.startIndex
            var same = true
            for b in e.utf8 {
                let c = ext[i]
                if (b >= 65 && b <= 90 ? b | 0x20 : b) != (c >= 65 && c <= 90 ? c | 0x20 : c) { same = false; break }
                i = ext.index(after: i)
            }
            if same { return true }
        }
        return false
    }

    func isScript(_ rel: String) -> Bool { isScriptName(StaticPath.lastSegment(rel)) }

    /// What one path is. A regular file comes from the static handler's open-file cache (checked
    /// again at most once a second: a script named often costs no system call); anything else is
    /// opened beneath the root with O_PATH (nothing is read or run). A file Flaks may not read (a
    /// script only php-fpm's user can read) is looked at with O_PATH too.
    enum Kind { case regular, directory, other, missing, refused }

    func inspect(_ rel: String) -> Kind {
        if !rel.isEmpty && rel.utf8.last != UInt8(ascii: "/") {
            switch files.resolve(rel) {
            case .file: return .regular
            case .other(_, let kind): return kind == S_IFDIR ? .directory : .other
            case .error(let e) where e != EACCES && e != EPERM: return Self.kind(ofError: e)
            case .error: break
            }
        }
        return inspectPath(rel)
    }

    static func kind(ofError e: Int32) -> Kind {
        switch e {
        case ENOENT, ENOTDIR, ENAMETOOLONG, EXDEV, ELOOP:
            // EXDEV/ELOOP: a symlink leading outside the root; answer as if absent (as static does).
            return .missing
        default:
            return .refused
        }
    }

    func inspectPath(_ rel: String) -> Kind {
        switch root.open(rel, flags: oPath) {
        case .error(let e):
            return Self.kind(ofError: e)
        case .fd(let fd):
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { return .refused }
            switch st.st_mode & S_IFMT {
            case S_IFREG: return .regular
            case S_IFDIR: return .directory
            default: return .other
            }
        }
    }

    // MARK: - Answers

    /// A non-script file, with the static handler's whole behaviour.
    func serveFile(_ rel: String, _ request: Request) -> HandlerOutcome {
        var r = request
        r.routePath = "/"
        r.remainder = rel
        return files.handle(r)
    }

    /// SCRIPT_NAME: the mount's URL prefix + the script's path below the root.
    func scriptName(_ request: Request, script: String) -> String {
        guard request.routePath.utf8.last == UInt8(ascii: "/") else { return "/" + script }
        // The request path minus the remainder (compared as bytes: this runs per request).
        let path = request.path, rest = request.remainder
        let n = path.utf8.count - rest.utf8.count
        guard n >= 0, Self.hasUTF8Suffix(path, rest) else {
            var prefix = request.routePath
            if prefix.utf8.last != UInt8(ascii: "/") { prefix += "/" }
            return prefix + script
        }
        // The script is what the path named (no index, no PATH_INFO): the path itself, no new string.
        let prefixBytes = path.utf8.prefix(n)
        if prefixBytes.last == UInt8(ascii: "/") && script.utf8.count == rest.utf8.count && Self.hasUTF8Suffix(script, rest) { return path }
        var prefix = String(Substring(prefixBytes))
        if prefix.utf8.last != UInt8(ascii: "/") { prefix += "/" }
        return prefix + script
    }

    /// Whether the UTF-8 of `s` ends with that of `suffix` (a byte comparison).
    static func hasUTF8Suffix(_ s: String, _ suffix: String) -> Bool {
        var s = s, suffix = suffix
        return s.withUTF8 { a in
            suffix.withUTF8 { b in
                guard b.count <= a.count else { return false }
                guard let pa = a.baseAddress, let pb = b.baseAddress else { return b.isEmpty }
                return memcmp(pa + (a.count - b.count), pb, b.count) == 0
            }
        }
    }

    /// The invocation for the executor: the params (CGI/1.1 meta-variables of RFC 3875 plus what
    /// PHP expects), the body, the responder and the route's limits.
    public func invocation(_ request: Request, script: String, pathInfo: String) -> FastCGIInvocation {
        let filename = documentRootSlash + script
        let s = CGIEnvironment.Script(scriptName: scriptName(request, script: script), pathInfo: pathInfo,
                                      scriptFilename: filename, documentRoot: documentRoot)
        // REQUEST_SCHEME and HTTPS come with the meta-variables (CGIEnvironment).
        let extra: [FastCGIPair] = [
            FastCGIPair("SERVER_ADDR", request.localAddress),
            // php's cgi.force_redirect (on by default) refuses to run without it: it proves the request
            // came through a web server (what Apache's mod_rewrite/action sets; nginx sends it too).
            FastCGIPair("REDIRECT_STATUS", "200"),
        ]
        // Authorization goes to the application (it does its own auth), unless the route's `auth`
        // consumed it: then REMOTE_USER and AUTH_TYPE=Basic are set instead (config-schema).
        var params = FastCGIParamsWriter(requestID: FastCGIResponseMachine.requestID,
                                         capacity: 640 + request.head.target.utf8.count * 2 + request.headers.count * 48)
        CGIEnvironment.writeParams(request: request, env: route.env, passAuthorization: true, script: s, extra: extra,
                                   into: &params)
        return FastCGIInvocation(responder: responder, params: params, body: request.body, scriptPath: filename,
                                 timeout: timeoutNanos, maxConnections: route.maxConnections)
    }
}

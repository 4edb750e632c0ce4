#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHTTP

/// `static:` routes: files under a root directory, the way nginx and Caddy serve them.
///
/// Per request, in the common case: one openat2 (RESOLVE_BENEATH) + one fstat, then the body goes out
/// with sendfile from the loop (`.file`). Nothing is read into memory except directory listings,
/// which are built on a worker thread.
///
/// - Index files for directories (`index`), 301 to the slash form for a directory named without one.
/// - Opt-in HTML listings (`listing`) and single-page-app `fallback` (nginx `try_files $uri $uri/ /index.html`:
///   any missing path gets the fallback file with 200).
/// - Strong ETag + Last-Modified and the RFC 9110 §13.2.2 precondition order (304/412).
/// - Byte ranges (RFC 9110 §14): single, multipart/byteranges, 416; If-Range.
/// - Precompressed `FILE.br` / `FILE.gz` chosen by Accept-Encoding (RFC 9110 §12.5.3).
/// - Only GET and HEAD (405 with Allow otherwise). Dotfiles hidden unless `dotfiles`, except `.well-known`.
///
/// Modelled on golang/go `src/net/http/fs.go` (serveContent, checkPreconditions).
public struct StaticFileHandler: Handler {
    let route: StaticRoute
    let root: StaticRoot
    let types: MediaTypes
    /// Index names that are single, visible file names (others are dropped at construction).
    let indexNames: [String]
    /// The fallback file relative to the root, when configured and safe.
    let fallback: String?

    /// Builds the handler and opens the root directory once.
    public init(_ route: StaticRoute) {
        self.init(route, root: StaticRoot(path: route.root))
    }

    /// Builds the handler over an already opened root (tests use this to force the pre-openat2 path).
    init(_ route: StaticRoute, root: StaticRoot) {
        self.route = route
        self.root = root
        types = MediaTypes(overrides: route.types)
        indexNames = route.index.filter { !$0.isEmpty && !$0.contains("/") && StaticPath.check($0, dotfiles: true) == .ok }
        if let f = route.fallback {
            let rel = String(f.drop { $0 == "/" })
            fallback = StaticPath.check(rel, dotfiles: true) == .ok && !rel.isEmpty ? rel : nil
        } else {
            fallback = nil
        }
    }

    static let allowed = "GET, HEAD"

    public func handle(_ request: Request) -> HandlerOutcome {
        // RFC 9110 §15.5.6: 405 must list the allowed methods.
        guard request.method == .GET || request.method == .HEAD else {
            var r = ErrorPage.response(.methodNotAllowed)
            r.headers.add("Allow", Self.allowed)
            return .response(r)
        }
        guard root.dir != nil else {
            // The root could not be opened when the site was loaded: a server problem, not a missing file.
            return .response(ErrorPage.response(.internalServerError))
        }
        let rel = relativePath(request)
        switch StaticPath.check(rel, dotfiles: route.dotfiles) {
        case .ok: break
        case .invalid: return .response(ErrorPage.response(.badRequest))
        case .hidden: return .response(ErrorPage.response(.notFound))
        }
        let wantsDirectory = rel.isEmpty || rel.utf8.last == UInt8(ascii: "/")
        let fd: Int32
        switch root.open(rel, flags: O_RDONLY | O_NONBLOCK) {
        case .error(let e): return .response(failed(e, request))
        case .fd(let f): fd = f
        }
        let file = OpenFile(fd: fd)
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .response(ErrorPage.response(.internalServerError)) }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            // "file.html/" cannot reach here (the kernel says ENOTDIR), but do not depend on it.
            if wantsDirectory && !rel.isEmpty { return .response(ErrorPage.response(.notFound)) }
            return .response(serve(file, st, name: StaticPath.lastSegment(rel), rel: rel, request))
        case S_IFDIR:
            if !wantsDirectory {
                // Like nginx: relative links in an index page need the slash form.
                var location = URIPath.directoryLocation(request.path)
                if let q = request.query { location += "?" + q }
                var r = ErrorPage.response(.movedPermanently)
                r.headers.add("Location", location)
                return .response(r)
            }
            return directory(file, rel: rel, request)
        default:
            // FIFOs, sockets, devices: never served.
            return .response(ErrorPage.response(.notFound))
        }
    }

    /// The path below the root. A prefix mount uses the rest after its prefix; an exact mount uses the
    /// whole request path (nginx `root` semantics). Leading slashes are dropped, so nothing is absolute.
    func relativePath(_ request: Request) -> String {
        let raw = request.routePath.hasSuffix("/") ? request.remainder : request.path
        if raw.utf8.first == UInt8(ascii: "/") { return String(raw.drop { $0 == "/" }) }
        return raw
    }

    /// Maps a failed open to a response: missing -> fallback or 404, refused -> 403.
    func failed(_ e: Int32, _ request: Request) -> Response {
        switch e {
        case ENOENT, ENOTDIR:
            if let fallback { return serveFallback(fallback, request) }
            return ErrorPage.response(.notFound)
        case EACCES, EPERM:
            return ErrorPage.response(.forbidden)
        case EXDEV, ELOOP, ENAMETOOLONG, ENXIO, ENODEV, EISDIR:
            // EXDEV: a symlink leading outside the root. Answer as if absent; do not confirm anything outside.
            return ErrorPage.response(.notFound)
        default:
            return ErrorPage.response(.internalServerError)
        }
    }

    /// The single-page-app fallback: served with 200 for any missing path (if it exists itself).
    func serveFallback(_ rel: String, _ request: Request) -> Response {
        guard case .fd(let fd) = root.open(rel, flags: O_RDONLY | O_NONBLOCK) else { return ErrorPage.response(.notFound) }
        let file = OpenFile(fd: fd)
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return ErrorPage.response(.notFound) }
        return serve(file, st, name: StaticPath.lastSegment(rel), rel: rel, request)
    }

    /// A directory with its slash: the first index file that is a regular file, else a listing, else 403.
    func directory(_ dir: OpenFile, rel: String, _ request: Request) -> HandlerOutcome {
        for name in indexNames {
            let path = rel + name
            guard case .fd(let fd) = root.open(path, flags: O_RDONLY | O_NONBLOCK) else { continue }
            let file = OpenFile(fd: fd)
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            return .response(serve(file, st, name: Substring(name), rel: path, request))
        }
        guard route.listing else {
            // nginx answers 403 for a directory without index when autoindex is off.
            return .response(ErrorPage.response(.forbidden))
        }
        let root = self.root, dotfiles = route.dotfiles
        let urlPath = URIPath.directoryLocationDecoded(request.path)
        let showParent = urlPath != "/"
        return .blocking {
            guard let entries = DirectoryListing.read(dir: dir.fd, rel: rel, root: root, dotfiles: dotfiles) else {
                return ErrorPage.response(.forbidden)
            }
            let html = DirectoryListing.html(urlPath: urlPath, entries: entries, showParent: showParent)
            return Response(status: .ok, headers: ["Content-Type": "text/html; charset=utf-8"], body: .bytes(Array(html.utf8)))
        }
    }

    /// A regular file: picks a precompressed sibling, evaluates conditionals, then 200/206/304/412/416.
    func serve(_ original: OpenFile, _ originalStat: stat, name: Substring, rel: String, _ request: Request) -> Response {
        let type = types.type(forFileName: name)
        var file = original
        var st = originalStat
        var coding: ContentCoding?
        if type.compressible, let ae = Preconditions.combined(request.headers, "Accept-Encoding") {
            for c in ContentCoding.preferred(String(ae)) {
                guard case .fd(let fd) = root.open(rel + c.suffix, flags: O_RDONLY | O_NONBLOCK) else { continue }
                let f = OpenFile(fd: fd)
                var s = stat()
                guard fstat(fd, &s) == 0, (s.st_mode & S_IFMT) == S_IFREG else { continue }
                file = f; st = s; coding = c
                break
            }
        }
        let size = Int(st.st_size)
        let mtimeNanos = Int(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int(st.st_mtim.tv_nsec)
        let validators = Validators(etag: Validators.etag(inode: UInt64(st.st_ino), size: size, mtimeNanos: mtimeNanos),
                                    lastModified: Int(st.st_mtim.tv_sec))
        var fields: [HeaderField] = []
        fields.reserveCapacity(8)
        fields.append(HeaderField(name: "ETag", value: validators.etag))
        fields.append(HeaderField(name: "Last-Modified", value: StaticDates.format(validators.lastModified)))
        var headers = HeaderFields(fields)
        // Every compressible type may have a sibling, so responses for them vary on Accept-Encoding
        // even when none was chosen (RFC 9110 §12.5.5), like nginx `gzip_vary on`.
        if type.compressible { headers.add("Vary", "Accept-Encoding") }

        switch Preconditions.evaluate(method: request.method, headers: request.headers, validators: validators) {
        case .preconditionFailed:
            return ErrorPage.response(.preconditionFailed)
        case .notModified:
            // RFC 9110 §15.4.5: a 304 carries the validators and Vary a 200 would have had; no body.
            return Response(status: .notModified, headers: headers)
        case .proceed(let honourRange):
            headers.add("Accept-Ranges", "bytes")
            if let coding { headers.add("Content-Encoding", coding.rawValue) }
            // RFC 9110 §14.2: Range is defined only for GET; ignored for HEAD.
            if honourRange, request.method == .GET, let range = request.headers["Range"] {
                switch ByteRanges.resolve(Substring(range), length: size) {
                case .ignore:
                    break
                case .unsatisfiable:
                    var r = ErrorPage.response(.rangeNotSatisfiable)
                    r.headers.add("Content-Range", "bytes */\(size)")
                    for f in headers where !HeaderFields.equalsIgnoringCase(f.name, "Content-Encoding") { r.headers.add(f.name, f.value) }
                    return r
                case .partial(let ranges) where ranges.count == 1:
                    headers.add("Content-Type", type.contentType)
                    headers.add("Content-Range", ranges[0].contentRange(of: size))
                    return Response(status: .partialContent, headers: headers,
                                    body: .file(FileRegion(file: file, offset: ranges[0].offset, length: ranges[0].length)))
                case .partial(let ranges):
                    return multipart(file, ranges: ranges, size: size, contentType: type.contentType, headers: headers)
                }
            }
            headers.add("Content-Type", type.contentType)
            return Response(status: .ok, headers: headers, body: .file(FileRegion(file: file, offset: 0, length: size)))
        }
    }

    /// 206 multipart/byteranges (RFC 9110 §14.6): each part has its own Content-Type and Content-Range.
    func multipart(_ file: OpenFile, ranges: [ByteRange], size: Int, contentType: String, headers: HeaderFields) -> Response {
        var g = SystemRandomNumberGenerator()
        let boundary = "flaks-" + String(g.next() as UInt64, radix: 36) + String(g.next() as UInt64, radix: 36)
        var parts: [BodyPart] = []
        parts.reserveCapacity(ranges.count * 2 + 1)
        for (i, r) in ranges.enumerated() {
            let head = (i == 0 ? "" : "\r\n") + "--" + boundary + "\r\nContent-Type: " + contentType
                + "\r\nContent-Range: " + r.contentRange(of: size) + "\r\n\r\n"
            parts.append(.bytes(Array(head.utf8)))
            parts.append(.file(FileRegion(file: file, offset: r.offset, length: r.length)))
        }
        parts.append(.bytes(Array(("\r\n--" + boundary + "--\r\n").utf8)))
        var h = headers
        h.add("Content-Type", "multipart/byteranges; boundary=" + boundary)
        return Response(status: .partialContent, headers: h, body: .parts(parts))
    }
}

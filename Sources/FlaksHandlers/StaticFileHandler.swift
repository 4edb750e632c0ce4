#if canImport(Glibc)
import Glibc
#endif
import CFlaksLinux
import FlaksConfig
import FlaksHTTP

/// `static:` routes: files under a root directory, the way nginx and Caddy serve them.
///
/// Files are resolved through a per-handler `StaticFileCache` (open descriptors and stat data, small
/// files' bytes): per request, in the common case, no file-system call at all; a path is checked again
/// with one fstatat at most once a second (every request while it changed in the last 2 s, or 250 ms
/// on a local file system with fine time stamps: `StaticFileCache.settleWindow`), so a
/// change on disk is visible within 1 s. Ranges, conditionals and siblings work on cached entries
/// exactly as on freshly opened files; every safety rule runs before the cache is consulted, and a
/// path whose check fails is opened again through `StaticRoot.open` (or not served). On a miss: one
/// openat2 (RESOLVE_BENEATH) + one fstat (+ one pread for a file of at most 32 KiB). Files up to 32 KiB
/// go out as `.bytes` (one writev with the head), larger ones with sendfile from the loop (`.file`).
/// Directory listings are built on a worker thread and never cached.
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
    /// Open files and their stat data; shared by every copy of this handler (one manifest generation).
    let cache: StaticFileCache

    /// Builds the handler and opens the root directory once.
    public init(_ route: StaticRoute) {
        self.init(route, root: StaticRoot(path: route.root))
    }

    /// Builds the handler over an already opened root (tests use this to force the pre-openat2 path,
    /// and to give the cache a clock they control).
    init(_ route: StaticRoute, root: StaticRoot, cache: StaticFileCache? = nil) {
        self.route = route
        self.root = root
        self.cache = cache ?? StaticFileCache(fineDevice: root.dir.flatMap { StaticFileCache.fineGrainedDevice(of: $0.fd) })
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
        // Only paths that passed every check below are ever stored in the cache, so a fresh hit
        // needs no second check and no second lookup (the common request: ~500 instructions saved).
        if let last = rel.utf8.last, last != UInt8(ascii: "/"),
           case .fresh(let value, let left) = cache.lookup(StaticFileCache.Key(path: rel, coding: nil), at: cache.now()) {
            switch value {
            case .present(let rep):
                var r = serve(rep, rel: rel, request)
                // Unchanged for what is left of the window: the server may send this answer again
                // (only a 200 to a plain GET is ever kept: the file's bytes, or the descriptor of a
                // file the cache does not hold in memory; see Response.reusableFor).
                if r.status == .ok { r.reusableFor = left }
                return .response(r)
            case .absent: return .response(failed(ENOENT, request))
            }
        }
        switch StaticPath.check(rel, dotfiles: route.dotfiles) {
        case .ok: break
        case .invalid: return .response(ErrorPage.response(.badRequest))
        case .hidden: return .response(ErrorPage.response(.notFound))
        }
        let wantsDirectory = rel.isEmpty || rel.utf8.last == UInt8(ascii: "/")
        if wantsDirectory, let first = indexNames.first {
            // A cached first index file means the directory was resolved before: skip opening it.
            let path = rel + first
            if let rep = cachedFile(path) { return .response(serve(rep, rel: path, request)) }
        }
        switch resolve(rel) {
        case .error(let e):
            return .response(failed(e, request))
        case .file(let rep):
            // "file.html/" cannot reach here (the kernel says ENOTDIR), but do not depend on it.
            if wantsDirectory && !rel.isEmpty { return .response(ErrorPage.response(.notFound)) }
            return .response(serve(rep, rel: rel, request))
        case .other(let file, let kind):
            guard kind == S_IFDIR else {
                // FIFOs, sockets, devices: never served.
                return .response(ErrorPage.response(.notFound))
            }
            if !wantsDirectory {
                // Like nginx: relative links in an index page need the slash form.
                var location = URIPath.directoryLocation(request.path)
                if let q = request.query { location += "?" + q }
                var r = ErrorPage.response(.movedPermanently)
                r.headers.add("Location", location)
                return .response(r)
            }
            return directory(file, rel: rel, request)
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
        guard case .file(let rep) = resolve(rel) else { return ErrorPage.response(.notFound) }
        return serve(rep, rel: rel, request)
    }

    /// A directory with its slash: the first index file that is a regular file, else a listing, else 403.
    func directory(_ dir: OpenFile, rel: String, _ request: Request) -> HandlerOutcome {
        for name in indexNames {
            let path = rel + name
            guard case .file(let rep) = resolve(path) else { continue }
            return .response(serve(rep, rel: path, request))
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
    func serve(_ original: StaticRepresentation, rel: String, _ request: Request) -> Response {
        var rep = original
        if original.type.compressible, let ae = Preconditions.combined(request.headers, "Accept-Encoding") {
            for c in PrecompressedCoding.preferred(String(ae)) {
                guard case .file(let sibling) = resolve(rel, coding: c, type: original.type) else { continue }
                rep = sibling
                break
            }
        }
        let size = rep.size
        switch Preconditions.evaluate(method: request.method, headers: request.headers, validators: rep.validators) {
        case .preconditionFailed:
            return ErrorPage.response(.preconditionFailed)
        case .notModified:
            // RFC 9110 §15.4.5: a 304 carries the validators and Vary a 200 would have had; no body.
            return Response(status: .notModified, headers: rep.baseHeaders)
        case .proceed(let honourRange):
            // RFC 9110 §14.2: Range is defined only for GET; ignored for HEAD.
            if honourRange, request.method == .GET, let range = request.headers["Range"] {
                var headers = rep.baseHeaders
                headers.add("Accept-Ranges", "bytes")
                switch ByteRanges.resolve(Substring(range), length: size) {
                case .ignore:
                    break
                case .unsatisfiable:
                    var r = ErrorPage.response(.rangeNotSatisfiable)
                    r.headers.add("Content-Range", "bytes */\(size)")
                    for f in headers { r.headers.add(f.name, f.value) }
                    return r
                case .partial(let ranges) where ranges.count == 1:
                    if let coding = rep.coding { headers.add("Content-Encoding", coding.rawValue) }
                    headers.add("Content-Type", rep.type.contentType)
                    headers.add("Content-Range", ranges[0].contentRange(of: size))
                    let body: ResponseBody = switch rep.region(offset: ranges[0].offset, length: ranges[0].length) {
                    case .bytes(let b): .bytes(b)
                    case .file(let f): .file(f)
                    }
                    return Response(status: .partialContent, headers: headers, body: body)
                case .partial(let ranges):
                    if let coding = rep.coding { headers.add("Content-Encoding", coding.rawValue) }
                    return multipart(rep, ranges: ranges, headers: headers)
                }
            }
            let body: ResponseBody = switch rep.content {
            case .bytes(let b): .bytes(b)
            case .file(let f): .file(FileRegion(file: f, offset: 0, length: size))
            }
            let id = rep.identity
            return Response(status: .ok, headers: rep.okHeaders, body: body, encodedHeaders: rep.okHeadersEncoded,
                            source: rep.coding == nil ? SourceFile(device: id.device, inode: id.inode, size: id.size,
                                                                   mtimeNanos: id.mtimeNanos) : nil)
        }
    }

    /// 206 multipart/byteranges (RFC 9110 §14.6): each part has its own Content-Type and Content-Range.
    func multipart(_ rep: StaticRepresentation, ranges: [ByteRange], headers: HeaderFields) -> Response {
        let size = rep.size, contentType = rep.type.contentType
        var g = SystemRandomNumberGenerator()
        let boundary = "flaks-" + String(g.next() as UInt64, radix: 36) + String(g.next() as UInt64, radix: 36)
        var parts: [BodyPart] = []
        parts.reserveCapacity(ranges.count * 2 + 1)
        for (i, r) in ranges.enumerated() {
            let head = (i == 0 ? "" : "\r\n") + "--" + boundary + "\r\nContent-Type: " + contentType
                + "\r\nContent-Range: " + r.contentRange(of: size) + "\r\n\r\n"
            parts.append(.bytes(Array(head.utf8)))
            parts.append(rep.region(offset: r.offset, length: r.length))
        }
        parts.append(.bytes(Array(("\r\n--" + boundary + "--\r\n").utf8)))
        var h = headers
        h.add("Content-Type", "multipart/byteranges; boundary=" + boundary)
        return Response(status: .partialContent, headers: h, body: .parts(parts))
    }
}

// MARK: - resolving paths through the cache

extension StaticFileHandler {
    /// How a path resolved.
    enum Resolved {
        /// A regular file, ready to serve.
        case file(StaticRepresentation)
        /// Opened, but not a regular file (`kind` is the S_IFMT bits): a directory, FIFO, socket, device.
        case other(OpenFile, kind: mode_t)
        /// The open (or its fstat) failed with this errno; for a sibling, also "there is none".
        case error(Int32)
    }

    /// The regular file at `path` (or its precompressed sibling `path + coding.suffix`): from the cache
    /// when checked within the window or found unchanged by fstatat, else opened beneath the root and
    /// cached. `type` is the media type to serve it as (default: from `path`'s last segment).
    func resolve(_ path: String, coding: PrecompressedCoding? = nil, type: MediaType? = nil) -> Resolved {
        let key = StaticFileCache.Key(path: path, coding: coding)
        let t = cache.now()
        switch cache.lookup(key, at: t) {
        case .fresh(let v, _):
            return Self.resolved(v)
        case .stale(let v):
            if let v = revalidate(key, v, at: t) { return Self.resolved(v) }
        case .miss:
            break
        }
        return open(key, type: type, at: t)
    }

    /// The regular file at `path` only if the cache holds it (fresh, or unchanged on disk); no open.
    func cachedFile(_ path: String) -> StaticRepresentation? {
        let key = StaticFileCache.Key(path: path, coding: nil)
        let t = cache.now()
        let value: StaticFileCache.Value?
        switch cache.lookup(key, at: t) {
        case .fresh(let v, _): value = v
        case .stale(let v): value = revalidate(key, v, at: t)
        case .miss: value = nil
        }
        if case .present(let rep)? = value { return rep }
        return nil
    }

    private static func resolved(_ v: StaticFileCache.Value) -> Resolved {
        switch v {
        case .present(let rep): .file(rep)
        case .absent: .error(ENOENT)
        }
    }

    /// The file name a key opens.
    private static func openPath(_ key: StaticFileCache.Key) -> String {
        guard let c = key.coding else { return key.path }
        return key.path + c.suffix
    }

    /// Checks a stale entry against the file system: the value to use (confirmed for another window,
    /// or a small file's bytes loaded now that it has settled), or nil after dropping it when the path
    /// changed or cannot be stat'ed. A dropped entry is never used: the caller opens the path again
    /// through the safe path, which also re-applies the beneath-the-root rule to any new symlink.
    private func revalidate(_ key: StaticFileCache.Key, _ value: StaticFileCache.Value, at t: UInt64) -> StaticFileCache.Value? {
        guard let dir = root.dir else { return nil }
        var st = stat()
        let ok = Self.openPath(key).withCString { fstatat(dir.fd, $0, &st, 0) } == 0
        switch value {
        case .absent:
            // Still nothing there (any error counts as none): keep the negative entry.
            if !ok {
                cache.confirm(key, value, at: t)
                return value
            }
        case .present(let rep):
            if ok && FileIdentity(st) == rep.identity {
                if case .file(let f) = rep.content, rep.size <= cache.limits.smallFileBytes, cache.settled(rep.identity),
                   let bytes = Self.readAll(f.fd, rep.identity) {
                    let loaded = StaticFileCache.Value.present(
                        StaticRepresentation(identity: rep.identity, content: .bytes(bytes), type: rep.type, coding: rep.coding))
                    cache.store(key, loaded, at: t)
                    return loaded
                }
                cache.confirm(key, value, at: cache.checkTime(value, at: t))
                return value
            }
        }
        cache.drop(key, ifStill: value)
        return nil
    }

    /// Opens the key's file beneath the root, caches what it found (a regular file; for a sibling,
    /// also its absence) and returns it.
    private func open(_ key: StaticFileCache.Key, type: MediaType?, at t: UInt64) -> Resolved {
        let sibling = key.coding != nil
        let fd: Int32
        switch root.open(Self.openPath(key), flags: O_RDONLY | O_NONBLOCK) {
        case .error(let e):
            if sibling { cache.store(key, .absent, at: t) }
            return .error(e)
        case .fd(let f): fd = f
        }
        let file = OpenFile(fd: fd)
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .error(errno) }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG else {
            if sibling { cache.store(key, .absent, at: t) }
            return .other(file, kind: kind)
        }
        let identity = FileIdentity(st)
        var content = StaticRepresentation.Content.file(file)
        if identity.size <= cache.limits.smallFileBytes, cache.settled(identity), let bytes = Self.readAll(fd, identity) {
            content = .bytes(bytes)
        }
        let rep = StaticRepresentation(identity: identity, content: content,
                                       type: type ?? types.type(forFileName: StaticPath.lastSegment(key.path)),
                                       coding: key.coding)
        let value = StaticFileCache.Value.present(rep)
        cache.store(key, value, at: cache.checkTime(value, at: t))
        return .file(rep)
    }

    /// The whole file, if it reads completely and is still `identity` afterwards (else nil: serve the
    /// descriptor instead, so a file caught mid-write is never frozen into memory).
    static func readAll(_ fd: Int32, _ identity: FileIdentity) -> [UInt8]? {
        let size = identity.size
        if size == 0 { return [] }
        var done = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buf, count in
            while done < size {
                let n = pread(fd, buf.baseAddress.map { $0 + done }, size - done, off_t(done))
                if n > 0 { done += n; continue }
                if n < 0 && errno == EINTR { continue }
                break
            }
            count = done
        }
        guard done == size else { return nil }
        var st = stat()
        guard fstat(fd, &st) == 0, FileIdentity(st) == identity else { return nil }
        return bytes
    }
}

#if canImport(Glibc)
import Glibc
#endif
import FlaksCompression
import FlaksHandlers
import FlaksHTTP

/// On-the-fly compression of responses (`compress:`), for every route kind: the decision is
/// `CompressionPolicy.decide` (FlaksCompression); this is where it meets the connection.
///
/// - Complete responses with bytes (views, error pages, small static files from the cache): the body
///   is compressed in one go on the loop (streaming parameters: level 5 gzip, quality 5 brotli,
///   level 3 zstd). A static file's compressed bytes are kept in `Server.compressedFiles` by the
///   file's identity, ETag and coding, so the second request costs no compression.
/// - Static files sent from their descriptor: compressed once on the worker pool (the strongest
///   parameters, files up to `compressedFileLimit`), cached, then sent; larger files go as identity.
/// - Streamed bodies (CGI, views; next FastCGI and the proxy): a `StreamingCompressor` per response,
///   chunked out, flushed whenever the producer has nothing more ready, so a streaming app still streams.
///
/// The fast path: a request without Accept-Encoding whose response came from the static cache (its
/// fields pre-encoded, Vary included by the static handler) is left alone without a decision.
extension Connection {
    /// Largest static file compressed (and cached); larger ones go out as identity, with Vary.
    static let compressedFileLimit = 8 << 20

    /// Compresses `r` in place when it should be; false when it is sent later instead (a file being
    /// compressed on a worker). In place: a response returned (as an Optional) was a copy and a
    /// release per request.
    func compressIfWanted(_ r: inout Response) -> Bool {
        guard let policy = exchange.route?.compression else { return true }
        // A body smaller than `min_size` is never compressed, for any client, so it needs no Vary
        // either: the decision (fields read and joined, the type matched) is skipped (measured
        // ~1,500 instructions on a small view answer). A 304 is decided by its tag, not its size.
        if r.status.code != 304, case .bytes(let b) = r.body, b.count < policy.minSize { return true }
        guard let h = exchange.head else { return true }
        if r.encodedHeaders != nil && !h.headers.contains("Accept-Encoding") { return true }
        if case .stream = r.body { return true }
        let method = machine.method ?? h.method
        let decision = policy.decide(method: method, requestHeaders: h.headers, status: r.status.code,
                                     responseHeaders: r.headers, knownLength: r.body.length)
        switch decision {
        case .unchanged:
            return true
        case .identity:
            guard !Connection.variesOnAcceptEncoding(r.headers) else { return true }
            decision.apply(to: &r.headers)
            r.encodedHeaders = nil
            return true
        case .notModified:
            decision.apply(to: &r.headers)
            r.encodedHeaders = nil
            r.status = .notModified
            r.body = .empty
            return true
        case .compress(let coding):
            // The client holds the compressed representation already (RFC 9110 §13.1.2): its tag is
            // the identity tag with the coding's suffix, which the handler could not know.
            if method == .GET || method == .HEAD, let etag = r.headers["ETag"],
               EntityTagCoding.listContains(h.headers.values("If-None-Match"), etag: etag, coding: coding) {
                CompressionDecision.notModified(coding).apply(to: &r.headers)
                r.encodedHeaders = nil
                r.status = .notModified
                r.body = .empty
                return true
            }
            switch r.body {
            case .bytes(let bytes):
                let key = r.source.flatMap { Connection.cacheKey($0, etag: r.headers["ETag"], coding: coding) }
                if let key, let hit = loop.server.compressedFiles.lookup(key) {
                    r.body = .bytes(hit)
                } else {
                    guard let out = try? StreamingCompressor.compress(bytes, coding: coding, parameters: .streaming) else {
                        return true
                    }
                    if let key { _ = loop.server.compressedFiles.insert(out, for: key) }
                    r.body = .bytes(out)
                }
            case .file(let region):
                guard region.length <= Connection.compressedFileLimit,
                      let key = r.source.flatMap({ Connection.cacheKey($0, etag: r.headers["ETag"], coding: coding) }) else {
                    CompressionDecision.identity(.notAccepted).apply(to: &r.headers)
                    r.encodedHeaders = nil
                    return true
                }
                if let hit = loop.server.compressedFiles.lookup(key) {
                    r.body = .bytes(hit)
                } else {
                    compressFileOnWorker(r, region: region, key: key, decision: decision)
                    return false
                }
            case .empty, .parts, .stream:
                return true
            }
            decision.apply(to: &r.headers)
            r.encodedHeaders = nil
            return true
        }
    }

    /// Reads and compresses a static file on the worker pool, caches it, then sends the response.
    private func compressFileOnWorker(_ response: Response, region: FileRegion, key: CompressedFileCache.Key,
                                      decision: CompressionDecision) {
        let loop = self.loop, id = self.id, seq = machine.requests
        let cache = loop.server.compressedFiles
        let parameters: CompressionParameters = region.length <= 1 << 20 ? .staticFile : .streaming
        loop.queueJob {
            var r = response
            if let bytes = Connection.readAll(region), let coding = decision.coding,
               let out = try? StreamingCompressor.compress(bytes, coding: coding, parameters: parameters) {
                _ = cache.insert(out, for: key)
                r.body = .bytes(out)
                decision.apply(to: &r.headers)
            } else {
                CompressionDecision.identity(.notAccepted).apply(to: &r.headers)
            }
            r.encodedHeaders = nil
            let prepared = r
            loop.execute { l in
                guard let c = l.connection(id: id), c.machine.requests == seq, c.machine.awaitsResponse else { return }
                c.sendPrepared(prepared)
            }
        }
    }

    /// The whole region, read with pread (worker thread).
    private static func readAll(_ region: FileRegion) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: region.length)
        var done = 0
        let ok = out.withUnsafeMutableBytes { p -> Bool in
            while done < region.length {
                let n = pread(region.file.fd, p.baseAddress! + done, region.length - done, off_t(region.offset + done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        return ok ? out : nil
    }

    static func cacheKey(_ source: SourceFile, etag: String?, coding: ContentCoding) -> CompressedFileCache.Key? {
        guard let etag else { return nil }
        return CompressedFileCache.Key(file: .init(device: source.device, inode: source.inode, size: source.size,
                                                   mtimeNanos: source.mtimeNanos), etag: etag, coding: coding)
    }

    /// Whether a Vary field already names Accept-Encoding.
    static func variesOnAcceptEncoding(_ headers: HeaderFields) -> Bool {
        headers.values("Vary").contains { v in
            v.split(separator: ",").contains { item in
                var t = item
                while let f = t.first, f == " " || f == "\t" { t = t.dropFirst() }
                while let l = t.last, l == " " || l == "\t" { t = t.dropLast() }
                return HeaderFields.equalsIgnoringCase(String(t), "Accept-Encoding")
            }
        }
    }

    /// For a streamed response about to start: a compressor when its body should be compressed.
    /// Changes the fields (Content-Encoding, Vary, ETag) and drops the length (the body goes chunked).
    func streamCompressor(status: HTTPStatus, headers: inout HeaderFields, length: inout Int?) -> StreamingCompressor? {
        guard let policy = exchange.route?.compression, let h = exchange.head else { return nil }
        let method = machine.method ?? h.method
        let decision = policy.decide(method: method, requestHeaders: h.headers, status: status.code,
                                     responseHeaders: headers, knownLength: length)
        switch decision {
        case .unchanged, .notModified:
            return nil
        case .identity:
            if !Connection.variesOnAcceptEncoding(headers) { decision.apply(to: &headers) }
            return nil
        case .compress(let coding):
            guard let c = try? StreamingCompressor(coding: coding, parameters: .streaming, sizeHint: length) else { return nil }
            decision.apply(to: &headers)
            length = nil
            return c
        }
    }
}

import FlaksACME
import FlaksAccess
import FlaksConfig
import FlaksHandlers
import FlaksHTTP
import FlaksRouting

/// Routing a request and running its handler.
extension Connection {
    /// A request head arrived: take it from the machine into the exchange, with the site it will
    /// run on. The head is moved (taking it into a local and storing that copied it and destroyed
    /// it again, ~200 instructions per request). False when the machine had none.
    func takeRequestHead() -> Bool {
        exchange.head = machine.takeHead()
        guard let hint = exchange.head?.framing.bufferHint else { return false }
        if case .fixedBody(let n) = hint { exchange.body.reserveCapacity(n) }
        exchange.requestID = loop.makeRequestID()
        exchange.start = loop.now
        exchange.site = loop.server.currentSite
        return true
    }

    /// A head arrived on a site with proxy routes: a request for a proxy route is routed now and
    /// sent upstream while its body still arrives (it is never buffered whole). Returns true when it
    /// was dispatched (or answered); otherwise routing waits for the end of the request as usual.
    /// `bufferedBody`: the bytes after the head in the buffer being parsed (the body's first bytes).
    func routeAtHead(bufferedBody: Int = 0) -> Bool {
        guard let site = exchange.site, site.hasProxyRoutes, let h = exchange.head, h.target != "*" else { return false }
        let path: String
        do { path = try h.normalizedPath() } catch {
            // An encoded "/" is allowed on proxy routes (it goes upstream as sent): route by a path
            // that keeps it encoded; anything else is answered at the end of the request.
            guard case .encodedSlash = error,
                  let p = try? PathNormalizer.normalize(Connection.keepingEncodedSlashes(h.rawPath)) else { return false }
            path = p
        }
        if isACMEChallenge(h, path: path) { return false }   // answered at the end of the request
        guard case .found(let m) = site.tree.lookup(host: h.host, path: path), let proxy = m.target.proxy else { return false }
        exchange.route = m.target
        if preparedKey != nil { routedQuick(m.target) }
        exchange.dispatchedAtHead = true
        if let answer = tlsPolicyAnswer(m.target, h) {
            send(answer)
            return true
        }
        let client = clientIP(h)
        if let access = m.target.access {
            switch access.check(client: client, authorization: h.headers["Authorization"],
                                limiter: loop.server.rateLimiter, cache: loop.server.authCache, now: loop.now) {
            case .allowed(let user):
                if user != nil { exchange.head?.headers.remove("Authorization") }
            case .denied(let r):
                loop.metrics.withLock { $0.recordDenial(host: m.target.hostLabel, status: r.status.code) }
                send(r)
                return true
            case .verify(let credentials):
                verifyThenProxy(proxy, credentials, access: access, client: client)
                return true
            }
        }
        startProxy(proxy, client: client, bufferedBody: bufferedBody)
        return true
    }

    private func startProxy(_ proxy: ProxyTarget, client: IPAddress, bufferedBody: Int = 0) {
        guard let h = exchange.head else { return }
        let trusted = exchange.site?.trustedProxies.contains(peerIP) ?? false
        ProxyRequest.start(proxy, head: h, client: self, clientIP: client, peerTrusted: trusted, loop: loop,
                           bufferedBody: bufferedBody)
    }

    /// Basic auth for a proxy route: the password is checked on the worker pool while the body waits.
    private func verifyThenProxy(_ proxy: ProxyTarget, _ credentials: BasicCredentials, access: RouteAccess, client: IPAddress) {
        let loop = self.loop, id = self.id, seq = machine.requests
        let cache = loop.server.authCache
        machine.holdBody(true, now: loop.now)
        loop.queueJob {
            let ok = access.auth?.verify(credentials, cache: cache, now: Int64(monotonicNanos())) == .valid
            loop.execute { l in
                guard let c = l.connection(id: id), seq == c.machine.requests, c.machine.awaitsResponse,
                      let route = c.exchange.route else { return }
                if ok {
                    c.exchange.head?.headers.remove("Authorization")
                    c.startProxy(proxy, client: client)
                    c.resumeRequestBody()
                } else {
                    l.metrics.withLock { $0.recordDenial(host: route.hostLabel, status: 401) }
                    c.send(access.unauthorized)
                }
            }
        }
    }

    /// `%2F` spelled `%252F`, so a normalized path keeps it as the three characters `%2F`.
    static func keepingEncodedSlashes(_ raw: Substring) -> String {
        let b = Array(raw.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count + 8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, b[i + 1] == UInt8(ascii: "2"), b[i + 2] | 0x20 == UInt8(ascii: "f") {
                out.append(contentsOf: "%252F".utf8)
                i += 3
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The request is complete: route it and run its handler.
    func requestEnded() {
        guard let h = exchange.head else { return }
        if h.target == "*" {
            // OPTIONS * asks about the server, not a resource (RFC 9110 §9.3.7).
            var r = Response(status: .ok)
            r.headers.set("Allow", Connection.serverMethods)
            send(r)
            return
        }
        let path: String
        do { path = try h.normalizedPath() } catch {
            machine.closeAfterResponse()
            respondError(.badRequest, detail: "bad path")
            return
        }
        if let answer = acmeChallengeAnswer(h, path: path) {
            send(answer)
            return
        }
        let body = exchange.body
        exchange.body = []
        run(h, path: path, body: body)
    }

    /// RFC 8555 §8.3: a GET (or HEAD) on a plain listener for a published HTTP-01 token, whatever
    /// the host: answered before routing (and so before `redirect_http`) with the key
    /// authorization. A token the executor did not publish goes to the routes as usual.
    func acmeChallengeAnswer(_ h: RequestHead, path: String) -> Response? {
        // "/." first: one byte read instead of a String prefix comparison on every request.
        // (`utf8.dropFirst().first` cost ~150 instructions per request, an iterator ~100; the
        // byte read in the string's storage, as `Dispatcher.lastByte` does, a few.)
        guard tls == nil, h.method == .GET || h.method == .HEAD, Self.secondByte(path) == UInt8(ascii: "."),
              let body = loop.server.acme.responder.response(forPath: path) else { return nil }
        return Response(status: .ok, headers: ["Content-Type": "application/octet-stream"], body: .bytes(body))
    }

    /// The second UTF-8 byte of `s` (0 if it has none), read in its storage.
    @inline(__always) static func secondByte(_ s: String) -> UInt8 {
        s.utf8.withContiguousStorageIfAvailable { $0.count > 1 ? $0[1] : 0 } ?? s.utf8.dropFirst().first ?? 0
    }

    private func isACMEChallenge(_ h: RequestHead, path: String) -> Bool {
        path.hasPrefix(ACMEChallengeResponder.pathPrefix) && acmeChallengeAnswer(h, path: path) != nil
    }

    /// What TLS says about a routed request, if anything: 421 when its Host names another TLS host
    /// than the one the connection's certificate was chosen for; on plain HTTP with `redirect_http`,
    /// 308 to https for a host that has `tls` (never for ACME challenges, nor for a trusted proxy's
    /// request that says it came over https: that would loop).
    func tlsPolicyAnswer(_ route: MountedRoute, _ h: RequestHead) -> Response? {
        guard let siteTLS = exchange.site?.tls else { return nil }
        if let t = tls {
            if t.established, t.session.context.store.isMisdirected(requestHost: route.hostIndex, connectionHost: t.host) {
                return ErrorPage.response(.misdirectedRequest, detail: "this connection's certificate is for another host")
            }
            return nil
        }
        guard siteTLS.redirectHTTP, siteTLS.tlsHosts.contains(route.hostIndex) else { return nil }
        if h.target.hasPrefix("/.well-known/acme-challenge/") { return nil }
        if let trusted = exchange.site?.trustedProxies, !trusted.isEmpty, trusted.contains(peerIP),
           h.headers["X-Forwarded-Proto"]?.lowercased() == "https" { return nil }
        var host = h.host ?? localHost
        if host.hasPrefix("[") {
            if let end = host.firstIndex(of: "]") { host = String(host[...end]) }
        } else if let colon = host.lastIndex(of: ":") {
            host = String(host[..<colon])
        }
        // Port 0 in the manifest (tests) means the port the system chose.
        let port = siteTLS.httpsPort.map { ":\($0 == 0 ? (loop.server.tlsPort ?? 443) : $0)" } ?? ""
        var r = Response(status: .permanentRedirect)
        r.headers.set("Location", "https://\(host)\(port)\(h.target.hasPrefix("/") ? h.target : "/")")
        return r
    }

    /// The methods this server implements, for `OPTIONS *`.
    static let serverMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

    /// Looks up the route for `path` and runs its handler (also used for internal redirects).
    /// `h`, `path` and `body` are moved into the `Request`, and the `Request` into the handler (a
    /// view keeps it for its worker): no copy of them is made and released on the way (~21,550
    /// instructions per blocking view request before, 20,300 now; 53 reference-counting calls fewer).
    private func run(_ h: consuming RequestHead, path: consuming String, body: consuming [UInt8]) {
        guard let site = exchange.site else { return }
        // A site whose only host is `*` routes without the Host field: it is not looked for
        // (~250 instructions per request; with `normalizedPath`, the iterator below and
        // `Dispatcher.lastByte`: 20,300 instructions per blocking view request before, 19,320 now).
        switch site.tree.lookup(host: site.tree.readsHost ? h.host : nil, path: path) {
        case .unknownHost:
            respondError(.misdirectedRequest, detail: "no site is configured for this host")
        case .notFound:
            exchange.route = nil
            send(ErrorPage.response(.notFound))
        case .found(let m):
            exchange.route = m.target
            if preparedKey != nil { routedQuick(m.target) }
            if let answer = tlsPolicyAnswer(m.target, h) {
                send(answer)
                return
            }
            if let fixed = m.target.fixed {
                sendFixed(fixed)
                return
            }
            let remoteAddress = clientAddressText(h)
            var request = Request(head: consume h, path: consume path, body: consume body, remoteAddress: remoteAddress,
                                  remotePort: peer.port, localAddress: localHost, localPort: local.port,
                                  routePath: m.routePath, remainder: m.remainder, parameters: m.parameters,
                                  id: exchange.requestID)
            request.isTLS = tls != nil
            if let access = m.target.access {
                switch access.check(client: clientIP(request.head), authorization: request.head.headers["Authorization"],
                                    limiter: loop.server.rateLimiter, cache: loop.server.authCache, now: loop.now) {
                case .allowed(let user):
                    if let user { authenticated(&request, as: user) }
                case .denied(let r):
                    loop.metrics.withLock { $0.recordDenial(host: m.target.hostLabel, status: r.status.code) }
                    send(r)
                    return
                case .verify(let credentials):
                    verifyThenRun(request, credentials, access: access)
                    return
                }
            }
            invoke(m.target.handler, consume request)
        }
    }

    /// Runs the handler of the matched route for `request`. The request is handed over, not copied
    /// (`Handler.handle` takes it `consuming`), and so is the outcome's response.
    private func invoke(_ handler: any Handler, _ request: consuming Request) {
        let method = request.method
        let outcome = handler.handle(request)
        switch consume outcome {
        case .response(let r):
            send(r)
        case .blocking(let job):
            loop.queueCall(BlockingCall(.blocking(consume job), loop: loop, connection: self, request: machine.requests))
        case .async(let job):
            // In a runner task (`ViewTaskRunner`), with the blocking views' batch; the response
            // comes back in the `BlockingCall`, as a blocking view's does.
            loop.queueAsyncCall(BlockingCall(.async(consume job), loop: loop, connection: self, request: machine.requests))
        case .cgi(let invocation):
            CGIProcess.start(invocation, method: machine.method ?? method, sink: self, loop: loop)
        case .fastcgi(let invocation):
            FastCGIRequest.start(invocation, method: machine.method ?? method, sink: self, loop: loop)
        }
    }

    /// Checks a password on the worker pool (bcrypt takes milliseconds: never on a loop), then comes
    /// back to this request on its loop.
    private func verifyThenRun(_ request: Request, _ credentials: BasicCredentials, access: RouteAccess) {
        let loop = self.loop, id = self.id, seq = machine.requests
        let cache = loop.server.authCache
        loop.queueJob {
            let ok = access.auth?.verify(credentials, cache: cache, now: Int64(monotonicNanos())) == .valid
            loop.execute { l in
                guard let c = l.connection(id: id), seq == c.machine.requests, c.machine.awaitsResponse,
                      let route = c.exchange.route else { return }
                if ok {
                    var r = request
                    c.authenticated(&r, as: credentials.user)
                    c.invoke(route.handler, r)
                } else {
                    l.metrics.withLock { $0.recordDenial(host: route.hostLabel, status: 401) }
                    c.send(access.unauthorized)
                }
            }
        }
    }

    /// The route's `auth` accepted `user`: the Authorization field is consumed (not passed on).
    private func authenticated(_ request: inout Request, as user: String) {
        request.remoteUser = user
        request.head.headers.remove("Authorization")
    }

    /// A worker or task finished request number `request` of this connection: sent unless the
    /// connection closed or moved on to another request meanwhile.
    func complete(_ response: consuming Response, request: Int) {
        guard !isClosed, request == machine.requests, machine.awaitsResponse else { return }
        send(response)
    }

    /// Serves `target` (a local path with optional query) as a GET for the current request, e.g. a
    /// CGI script's local `Location` (RFC 3875 §6.2.2). Bounded to avoid loops. The client's method
    /// still frames the answer (the machine kept it): a HEAD gets the GET's head and no body.
    func internalRedirect(to target: String) {
        guard machine.awaitsResponse else { return }
        guard var h = exchange.head, exchange.redirects < 10 else {
            send(ErrorPage.response(.internalServerError, detail: "too many internal redirects"))
            return
        }
        exchange.redirects += 1
        exchange.producer = nil
        h.method = .GET
        h.target = target
        h.headers.remove("Content-Length")
        h.headers.remove("Content-Type")
        exchange.head = h
        let path: String
        do { path = try h.normalizedPath() } catch {
            send(ErrorPage.response(.internalServerError, detail: "bad internal redirect"))
            return
        }
        run(h, path: path, body: [])
    }

    /// Answers an error found by the connection itself (parse errors, timeouts, bad paths).
    func respondError(_ status: HTTPStatus, detail: String? = nil) {
        send(ErrorPage.response(status, detail: detail))
    }

    /// The host's custom page for `status`, if configured and servable right now (a synchronous
    /// response). The page is fetched as a plain GET: the client's Range and conditional fields
    /// belong to the failed request, not to the page.
    func errorPage(for status: HTTPStatus) -> Response? {
        guard let site = exchange.site, let h = exchange.head else { return nil }
        guard case .found(let pages) = site.errorPages.lookup(host: h.host, path: "/"),
              let path = pages.target[status.code] else { return nil }
        guard case .found(let m) = site.tree.lookup(host: h.host, path: path) else { return nil }
        var ph = h
        ph.method = .GET
        ph.target = path
        for name in Connection.requestFieldsNotForErrorPages { ph.headers.remove(name) }
        let request = Request(head: ph, path: path, remoteAddress: peerHost, remotePort: peer.port,
                              localAddress: localHost, localPort: local.port,
                              routePath: m.routePath, remainder: m.remainder, parameters: m.parameters,
                              id: exchange.requestID)
        guard case .response(let r) = m.target.handler.handle(request), r.status.code == 200 else { return nil }
        return r
    }

    static let requestFieldsNotForErrorPages = ["Range", "If-Range", "If-Match", "If-None-Match",
                                                "If-Modified-Since", "If-Unmodified-Since"]
}

extension BodyFraming {
    /// How much body to make room for up front (at most 1 MiB: the length is the client's claim).
    fileprivate var bufferHint: BufferHint {
        if case .length(let n) = self, n > 0 { return .fixedBody(min(n, 1 << 20)) }
        return .none
    }

    fileprivate enum BufferHint { case none, fixedBody(Int) }
}

/// The client address: the peer, or, when the peer is a trusted proxy, the rightmost
/// X-Forwarded-For address that is not one (`ClientAddress.resolve`). The one source for `allow`,
/// `rate`, `ip_hash`, REMOTE_ADDR, X-Forwarded-For and the access log.
extension Connection {
    /// The peer's address as an `IPAddress` (a unix-socket peer counts as 127.0.0.1).
    var peerIP: IPAddress {
        if let ip = cachedPeerIP { return ip }
        let ip = peer.ipAddress ?? IPAddress(v4: 0x7F00_0001)
        cachedPeerIP = ip
        return ip
    }

    func clientIP(_ h: RequestHead) -> IPAddress {
        guard let trusted = exchange.site?.trustedProxies, !trusted.isEmpty else { return peerIP }
        return ClientAddress.resolve(peer: peerIP, headers: h.headers, trusted: trusted)
    }

    /// The client address as text (REMOTE_ADDR, the access log): the peer's, unless trusted proxies are set.
    func clientAddressText(_ h: RequestHead) -> String {
        guard let trusted = exchange.site?.trustedProxies, !trusted.isEmpty else { return peerHost }
        let text = ClientAddress.resolve(peer: peerIP, headers: h.headers, trusted: trusted).description
        exchange.clientAddress = text
        return text
    }
}

#if canImport(Glibc)
import Glibc
#endif
import FlaksConfig
import FlaksFastCGI
import FlaksHTTP

/// Builds a CGI script's complete environment from a request (RFC 3875 §4.1). Pure: no I/O.
///
/// Nothing is inherited from the server's own environment: a script gets `PATH` (a fixed safe
/// default, which the route's `env` may override), the route's `env`, and the meta-variables.
/// The meta-variables are set last, so a route's `env` cannot forge them.
public enum CGIEnvironment {
    /// The `PATH` scripts get unless the route's `env` sets one.
    public static let defaultPath = "/usr/local/bin:/usr/bin:/bin"
    /// SERVER_SOFTWARE (RFC 3875 §4.1.17).
    public static let serverSoftware = "flaks"

    /// Where the script is, as the handler resolved it.
    public struct Script: Sendable, Equatable {
        /// URL path of the script (SCRIPT_NAME, §4.1.13): decoded, starts with "/".
        public var scriptName: String
        /// The rest of the URL path after the script (PATH_INFO, §4.1.5): "" or starts with "/".
        public var pathInfo: String
        /// Absolute file name of the script (SCRIPT_FILENAME).
        public var scriptFilename: String
        /// The mount's root directory (DOCUMENT_ROOT, and the base of PATH_TRANSLATED).
        public var documentRoot: String
        public init(scriptName: String, pathInfo: String, scriptFilename: String, documentRoot: String) {
            self.scriptName = scriptName; self.pathInfo = pathInfo
            self.scriptFilename = scriptFilename; self.documentRoot = documentRoot
        }
    }

    /// The environment as `NAME=value` strings, sorted by name (stable for tests and logs).
    public static func build(request: Request, route: CGIRoute, script: Script) -> [String] {
        build(request: request, env: route.env, passAuthorization: route.passAuthorization, path: defaultPath,
              script: script)
    }

    /// What `build(request:route:script:)` gives, as the block the spawn hands to execve, in the
    /// order written: `PATH` (the route's `env` one, else `defaultPath`), the meta-variables, then
    /// the route's other `env` entries whose names no meta-variable has. No dictionary, no sort, one
    /// buffer (see `CGIEnvironmentBlock`); tested to hold the same entries as `build`.
    public static func block(request: Request, route: CGIRoute, script: Script) -> CGIEnvironmentBlock {
        let routeEnv = route.env
        var b = CGIEnvironmentBlock(capacity: 640 + request.headers.fields.count * 48)
        if let path = routeEnv["PATH"], !path.utf8.contains(0) { b.add(static: "PATH", path) }
        else { b.add(static: "PATH", defaultPath) }
        writeMeta(request: request, passAuthorization: route.passAuthorization, script: script, into: &b)
        for (k, v) in routeEnv where k != "PATH" && isSafeName(k) && !v.utf8.contains(0) && !b.contains(name: k) {
            b.add(k, v)
        }
        return b
    }

    /// The environment as `NAME=value` strings, sorted by name (logs, tests: the reference `block`
    /// is tested against; the spawn uses `block`): `PATH` when given, then `env` (safe
    /// names, no NUL), then the meta-variables and `extra`, which `env` cannot override.
    /// `passAuthorization`: Authorization becomes HTTP_AUTHORIZATION unless a route's `auth`
    /// consumed it (`request.remoteUser` set).
    public static func build(request: Request, env routeEnv: [String: String], passAuthorization: Bool, path: String?,
                             script: Script, extra: [String: String] = [:]) -> [String] {
        var env: [String: String] = [:]
        if let path { env["PATH"] = path }
        for (k, v) in routeEnv where isSafeName(k) && !v.utf8.contains(0) { env[k] = v }
        for p in metaPairs(request: request, passAuthorization: passAuthorization, script: script) { env[p.name] = p.value }
        for (k, v) in extra { env[k] = v }
        return env.keys.sorted().compactMap { k in env[k].map { "\(k)=\($0)" } }
    }

    /// What `build` gives (without PATH) as (name, value) pairs, in no particular order: the FastCGI
    /// params of a request. `extra` comes after the meta-variables and must not repeat their names;
    /// an `env` name that any of them has is skipped.
    public static func unsortedParams(request: Request, env routeEnv: [String: String], passAuthorization: Bool,
                                      script: Script, extra: [FastCGIPair]) -> [FastCGIPair] {
        var out: [FastCGIPair] = []
        out.reserveCapacity(24 + request.headers.count + extra.count + routeEnv.count)
        writeParams(request: request, env: routeEnv, passAuthorization: passAuthorization, script: script, extra: extra,
                    into: &out)
        return out
    }

    /// `unsortedParams` written into `sink` as they are made (the FastCGI handler writes them
    /// straight into the PARAMS records: no array of pairs, no dictionary, no sort).
    public static func writeParams<S: CGIVariableSink>(request: Request, env routeEnv: [String: String], passAuthorization: Bool,
                                                       script: Script, extra: [FastCGIPair], into sink: inout S) {
        guard !routeEnv.isEmpty else {
            writeMeta(request: request, passAuthorization: passAuthorization, script: script, into: &sink)
            for p in extra { sink.add(p.name, p.value) }
            return
        }
        // The route's env may not repeat a name already sent: remember them.
        var recording = NameRecordingSink(base: sink)
        writeMeta(request: request, passAuthorization: passAuthorization, script: script, into: &recording)
        for p in extra { recording.add(p.name, p.value) }
        for (k, v) in routeEnv where isSafeName(k) && !v.utf8.contains(0) && !recording.names.contains(k) {
            recording.add(k, v)
        }
        sink = recording.base
    }

    /// The RFC 3875 §4.1 meta-variables plus the common extensions (REMOTE_PORT, REQUEST_URI,
    /// SCRIPT_FILENAME, DOCUMENT_ROOT) and one HTTP_* per request header (§4.1.18).
    public static func metaVariables(request: Request, route: CGIRoute, script: Script) -> [String: String] {
        metaVariables(request: request, passAuthorization: route.passAuthorization, script: script)
    }

    /// The meta-variables; `passAuthorization` as in `build`.
    public static func metaVariables(request: Request, passAuthorization: Bool, script: Script) -> [String: String] {
        Dictionary(metaPairs(request: request, passAuthorization: passAuthorization, script: script).map { ($0.name, $0.value) },
                   uniquingKeysWith: { _, last in last })
    }

    /// The meta-variables as (name, value), each name once.
    static func metaPairs(request: Request, passAuthorization: Bool, script: Script) -> [FastCGIPair] {
        var m: [FastCGIPair] = []
        m.reserveCapacity(24 + request.headers.count)
        writeMeta(request: request, passAuthorization: passAuthorization, script: script, into: &m)
        return m
    }

    /// The meta-variables into `m`, each name once.
    static func writeMeta<S: CGIVariableSink>(request: Request, passAuthorization: Bool, script: Script, into m: inout S) {
        let h = request.headers
        m.add(static: "GATEWAY_INTERFACE", "CGI/1.1")                         // §4.1.4
        m.add(static: "SERVER_SOFTWARE", serverSoftware)                      // §4.1.17
        m.add(static: "SERVER_PROTOCOL", request.head.version.description)    // §4.1.16
        m.add(static: "SERVER_NAME", request.serverName)                      // §4.1.14
        m.add(static: "SERVER_PORT", String(request.localPort))               // §4.1.15
        m.add(static: "REQUEST_METHOD", request.method.rawValue)              // §4.1.12
        m.add(static: "QUERY_STRING", request.query.map(String.init) ?? "")   // §4.1.7: always set, raw (still encoded)
        m.add(static: "REMOTE_ADDR", request.remoteAddress)                   // §4.1.8
        // §4.1.9: no reverse lookups (slow, spoofable); the RFC allows REMOTE_ADDR in their place.
        m.add(static: "REMOTE_HOST", request.remoteAddress)
        m.add(static: "REMOTE_PORT", String(request.remotePort))
        m.add(static: "SCRIPT_NAME", script.scriptName)                       // §4.1.13
        m.add(static: "SCRIPT_FILENAME", script.scriptFilename)
        m.add(static: "DOCUMENT_ROOT", script.documentRoot)
        m.add(static: "REQUEST_URI", request.head.target)
        m.add(static: "REQUEST_SCHEME", request.isTLS ? "https" : "http")
        if request.isTLS { m.add(static: "HTTPS", "on") }
        // §4.1.5, §4.1.6: PATH_TRANSLATED only when PATH_INFO is non-empty.
        m.add(static: "PATH_INFO", script.pathInfo)
        if !script.pathInfo.isEmpty { m.add(static: "PATH_TRANSLATED", script.documentRoot + script.pathInfo) }
        // §4.1.2: set iff there is a body. The server buffers and de-chunks bodies first (up to
        // limits.max_body), so the length is always known, also for chunked uploads (like nginx).
        if request.head.framing != .none || !request.body.isEmpty {
            m.add(static: "CONTENT_LENGTH", String(request.body.count))
        }
        if let type = h["Content-Type"] { m.add(static: "CONTENT_TYPE", type) }   // §4.1.3
        // §4.1.1: the auth-scheme token of the Authorization header; the credentials themselves
        // reach the script only when passed (`pass_authorization` for CGI; always for FastCGI).
        if let user = request.remoteUser {
            // The route's `auth` checked the credentials and consumed the field (RFC 3875 §4.1.11).
            m.add(static: "AUTH_TYPE", "Basic")
            m.add(static: "REMOTE_USER", user)
        } else if let auth = h["Authorization"], let scheme = auth.split(separator: " ").first, !scheme.isEmpty {
            m.add(static: "AUTH_TYPE", String(scheme))
        }
        let pass = passAuthorization && request.remoteUser == nil
        writeHTTPVariables(h, passAuthorization: pass, into: &m)
    }

    /// Headers that never become HTTP_* variables: their values travel elsewhere (CONTENT_*), they
    /// carry credentials (Authorization unless opted in; Proxy-Authorization always, since its
    /// credentials are for a proxy on the way, RFC 9110 §11.7.2, never for the script), or they are
    /// an attack (Proxy → HTTP_PROXY, "httpoxy", CVE-2016-5385: many HTTP clients read HTTP_PROXY
    /// as their proxy setting).
    static let excludedHeaders: Set<String> = ["content-length", "content-type", "proxy", "authorization",
                                               "proxy-authorization"]

    /// HTTP_* variables for the request headers (RFC 3875 §4.1.18): name uppercased, "-" → "_".
    /// A header name containing "_" (or anything but letters, digits and "-") is dropped, so
    /// `X-A_B` cannot pose as `X-A-B`. Repeated headers are joined with ", " ("; " for Cookie).
    static func httpVariables(_ headers: HeaderFields, passAuthorization: Bool) -> [FastCGIPair] {
        var out: [FastCGIPair] = []
        writeHTTPVariables(headers, passAuthorization: passAuthorization, into: &out)
        return out
    }

    /// `httpVariables` into `sink`, in the order of first appearance: a repeated field is joined at
    /// its first appearance and skipped at the others (written as they come, nothing to go back to).
    static func writeHTTPVariables<S: CGIVariableSink>(_ headers: HeaderFields, passAuthorization: Bool, into sink: inout S) {
        headers.fields.withUnsafeBufferPointer { fields in
            // Which fields become variables, decided once per field (a bit each for the first 64;
            // a head has at most `limits.max_header_count` fields, 100 by default).
            var eligibleBits: UInt64 = 0
            var eligibleRest: [Bool] = []
            if fields.count > 64 { eligibleRest = [Bool](repeating: false, count: fields.count - 64) }
            var anyRepeat = false
            for i in fields.indices where isEligible(fields[i], passAuthorization: passAuthorization) {
                if i < 64 { eligibleBits |= 1 << UInt64(i) } else { eligibleRest[i - 64] = true }
            }
            func eligible(_ i: Int) -> Bool { i < 64 ? eligibleBits & (1 << UInt64(i)) != 0 : eligibleRest[i - 64] }
            // Names are letters, digits and "-": two fields give the same variable iff their names
            // are equal without regard to case. Repeats are rare: one pass finds whether there are any.
            if fields.count > 1 {
                outer: for i in fields.indices where eligible(i) {
                    let n = fields[i].name.utf8.count
                    for j in (i + 1)..<fields.count where eligible(j) && fields[j].name.utf8.count == n
                        && HeaderFields.equalsIgnoringCase(fields[i].name, fields[j].name) {
                        anyRepeat = true
                        break outer
                    }
                }
            }
            for i in fields.indices where eligible(i) {
                guard anyRepeat else {
                    sink.add(variableName(fields[i].name), fields[i].value)
                    continue
                }
                var repeated = false
                for j in 0..<i where eligible(j) && HeaderFields.equalsIgnoringCase(fields[j].name, fields[i].name) {
                    repeated = true
                    break
                }
                if repeated { continue }
                var value = fields[i].value
                for j in (i + 1)..<fields.count where eligible(j) && HeaderFields.equalsIgnoringCase(fields[j].name, fields[i].name) {
                    value += (HeaderFields.equalsIgnoringCase(fields[j].name, "Cookie") ? "; " : ", ") + fields[j].value
                }
                sink.add(variableName(fields[i].name), value)
            }
        }
    }

    /// Whether a request field becomes an HTTP_* variable (see `httpVariables`).
    static func isEligible(_ f: HeaderField, passAuthorization: Bool) -> Bool {
        if isExcluded(f.name) && !(passAuthorization && HeaderFields.equalsIgnoringCase(f.name, "Authorization")) { return false }
        guard !f.name.isEmpty, f.name.utf8.allSatisfy({ isAlnum($0) || $0 == 45 }) else { return false }
        var value = f.value
        return value.withUTF8 { v in
            guard let b = v.baseAddress else { return true }
            return memchr(b, 0, v.count) == nil
        }
    }

    /// `excludedHeaders`, compared without regard to case and without lowercasing a copy.
    static func isExcluded(_ name: String) -> Bool {
        switch name.utf8.count {
        case 5: HeaderFields.equalsIgnoringCase(name, "Proxy")
        case 12: HeaderFields.equalsIgnoringCase(name, "Content-Type")
        case 13: HeaderFields.equalsIgnoringCase(name, "Authorization")
        case 14: HeaderFields.equalsIgnoringCase(name, "Content-Length")
        case 19: HeaderFields.equalsIgnoringCase(name, "Proxy-Authorization")
        default: false
        }
    }

    /// "HTTP_" + the name uppercased, "-" -> "_" (the name is letters, digits and "-"). The common
    /// request fields get a constant (no string made: 3 fields cost ~2,600 instructions before, with
    /// a string built per field through an enumerated closure).
    static func variableName(_ field: String) -> String {
        let n = field.utf8.count
        guard let first = field.utf8.first else { return "HTTP_" }
        let folded = first | 0x20
        for (name, variable) in commonVariables where name.utf8.count == n && (name.utf8.first ?? 0) | 0x20 == folded
            && HeaderFields.equalsIgnoringCase(field, name) {
            return variable
        }
        return computedVariableName(field)
    }

    /// `variableName` without the table of common fields.
    static func computedVariableName(_ field: String) -> String {
        let n = field.utf8.count
        var field = field
        return field.withUTF8 { src in
            String(unsafeUninitializedCapacity: n + 5) { buf in
                buf[0] = 72; buf[1] = 84; buf[2] = 84; buf[3] = 80; buf[4] = 95   // "HTTP_"
                var i = 0
                while i < n {
                    let b = src[i]
                    buf[i + 5] = b == 45 ? 95 : (b >= 97 && b <= 122 ? b - 32 : b)
                    i += 1
                }
                return n + 5
            }
        }
    }

    /// The request fields most requests carry, with their variable names.
    static let commonVariables: [(String, String)] = [
        ("Host", "HTTP_HOST"), ("User-Agent", "HTTP_USER_AGENT"), ("Accept", "HTTP_ACCEPT"),
        ("Accept-Encoding", "HTTP_ACCEPT_ENCODING"), ("Accept-Language", "HTTP_ACCEPT_LANGUAGE"),
        ("Connection", "HTTP_CONNECTION"), ("Cookie", "HTTP_COOKIE"), ("Referer", "HTTP_REFERER"),
        ("Cache-Control", "HTTP_CACHE_CONTROL"), ("Upgrade-Insecure-Requests", "HTTP_UPGRADE_INSECURE_REQUESTS"),
        ("Origin", "HTTP_ORIGIN"), ("If-Modified-Since", "HTTP_IF_MODIFIED_SINCE"), ("If-None-Match", "HTTP_IF_NONE_MATCH"),
        ("X-Forwarded-For", "HTTP_X_FORWARDED_FOR"), ("X-Forwarded-Proto", "HTTP_X_FORWARDED_PROTO"),
        ("X-Requested-With", "HTTP_X_REQUESTED_WITH"), ("Authorization", "HTTP_AUTHORIZATION"),
    ]

    private static func isAlnum(_ b: UInt8) -> Bool { (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) }

    /// An environment name a route may set: letters, digits, "_", not starting with a digit.
    static func isSafeName(_ s: String) -> Bool {
        guard let f = s.utf8.first, !(48...57).contains(f) else { return false }
        return s.utf8.allSatisfy { isAlnum($0) || $0 == 95 }
    }
}

/// Where `CGIEnvironment` writes variables as it makes them: an array of pairs (CGI, tests) or a
/// FastCGI request's PARAMS records (`FastCGIParamsWriter`).
public protocol CGIVariableSink {
    mutating func add(_ name: String, _ value: String)
    /// A name known when compiling (the meta-variables); by default the `String` form.
    mutating func add(static name: StaticString, _ value: String)
}

extension CGIVariableSink {
    public mutating func add(static name: StaticString, _ value: String) { add(name.description, value) }
}

extension Array: CGIVariableSink where Element == FastCGIPair {
    public mutating func add(_ name: String, _ value: String) { append(FastCGIPair(name, value)) }
}

extension FastCGIParamsWriter: CGIVariableSink {}

/// A sink that also remembers the names written (the route's `env` may not repeat one).
struct NameRecordingSink<Base: CGIVariableSink>: CGIVariableSink {
    var base: Base
    var names: Set<String> = []
    mutating func add(_ name: String, _ value: String) {
        names.insert(name)
        base.add(name, value)
    }
    mutating func add(static name: StaticString, _ value: String) {
        names.insert(name.description)
        base.add(static: name, value)
    }
}

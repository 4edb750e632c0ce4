/// Field names that most heads carry, as clients and upstreams spell them: a field line whose
/// name is one of these bytes for bytes gets the literal `String` instead of a new one (no UTF-8
/// validation, no string built: ~150 instructions a field; a browser's request has ten or more).
/// Any other spelling (case included) is read from the bytes as before: the name a handler sees
/// is always exactly the one sent.
enum FieldNames {
    /// The name in `b` as a `String`.
    @inline(__always)
    static func string(_ b: UnsafeRawBufferPointer) -> String {
        known(b) ?? String(utf8Bytes: b)
    }

    /// The literal for `b` if it is a common name, spelled as listed.
    static func known(_ b: UnsafeRawBufferPointer) -> String? {
        switch b.count {
        case 2:
            if eq(b, "TE") { return "TE" }
        case 3:
            if eq(b, "DNT") { return "DNT" }
        case 4:
            if eq(b, "Host") { return "Host" }
            if eq(b, "host") { return "host" }
            if eq(b, "Date") { return "Date" }
            if eq(b, "ETag") { return "ETag" }
            if eq(b, "Vary") { return "Vary" }
        case 5:
            if eq(b, "Range") { return "Range" }
        case 6:
            if eq(b, "Accept") { return "Accept" }
            if eq(b, "Cookie") { return "Cookie" }
            if eq(b, "Origin") { return "Origin" }
            if eq(b, "Pragma") { return "Pragma" }
            if eq(b, "Server") { return "Server" }
            if eq(b, "accept") { return "accept" }
            if eq(b, "cookie") { return "cookie" }
        case 7:
            if eq(b, "Referer") { return "Referer" }
            if eq(b, "Upgrade") { return "Upgrade" }
        case 8:
            if eq(b, "Location") { return "Location" }
            if eq(b, "If-Range") { return "If-Range" }
        case 9:
            if eq(b, "X-Real-IP") { return "X-Real-IP" }
        case 10:
            if eq(b, "User-Agent") { return "User-Agent" }
            if eq(b, "Connection") { return "Connection" }
            if eq(b, "Set-Cookie") { return "Set-Cookie" }
            if eq(b, "user-agent") { return "user-agent" }
            if eq(b, "connection") { return "connection" }
            if eq(b, "Keep-Alive") { return "Keep-Alive" }
        case 12:
            if eq(b, "Content-Type") { return "Content-Type" }
            if eq(b, "content-type") { return "content-type" }
            if eq(b, "X-Request-ID") { return "X-Request-ID" }
        case 13:
            if eq(b, "Authorization") { return "Authorization" }
            if eq(b, "Cache-Control") { return "Cache-Control" }
            if eq(b, "If-None-Match") { return "If-None-Match" }
            if eq(b, "Last-Modified") { return "Last-Modified" }
            if eq(b, "Accept-Ranges") { return "Accept-Ranges" }
        case 14:
            if eq(b, "Content-Length") { return "Content-Length" }
            if eq(b, "content-length") { return "content-length" }
            if eq(b, "Sec-Fetch-Dest") { return "Sec-Fetch-Dest" }
            if eq(b, "Sec-Fetch-Mode") { return "Sec-Fetch-Mode" }
            if eq(b, "Sec-Fetch-Site") { return "Sec-Fetch-Site" }
            if eq(b, "Sec-Fetch-User") { return "Sec-Fetch-User" }
        case 15:
            if eq(b, "Accept-Encoding") { return "Accept-Encoding" }
            if eq(b, "Accept-Language") { return "Accept-Language" }
            if eq(b, "X-Forwarded-For") { return "X-Forwarded-For" }
            if eq(b, "accept-encoding") { return "accept-encoding" }
            if eq(b, "accept-language") { return "accept-language" }
        case 16:
            if eq(b, "Content-Encoding") { return "Content-Encoding" }
            if eq(b, "X-Forwarded-Host") { return "X-Forwarded-Host" }
        case 17:
            if eq(b, "If-Modified-Since") { return "If-Modified-Since" }
            if eq(b, "Transfer-Encoding") { return "Transfer-Encoding" }
            if eq(b, "X-Forwarded-Proto") { return "X-Forwarded-Proto" }
            if eq(b, "Sec-WebSocket-Key") { return "Sec-WebSocket-Key" }
        case 25:
            if eq(b, "Upgrade-Insecure-Requests") { return "Upgrade-Insecure-Requests" }
        default:
            break
        }
        return nil
    }

    /// Whether `b` holds exactly the bytes of `name` (of `b.count` ASCII bytes). Each name is
    /// written twice above, compared and returned (a `StaticString` made into a `String` costs
    /// what building it from the bytes does; a table of names compared with `elementsEqual` cost
    /// ~330 instructions more per one-field request); `FieldNamesTests` checks every pair.
    @inline(__always)
    private static func eq(_ b: UnsafeRawBufferPointer, _ name: StaticString) -> Bool {
        let p = name.utf8Start
        for i in 0..<b.count where b[i] != p[i] { return false }
        return true
    }
}

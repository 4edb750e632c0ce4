import FlaksHTTP

/// Runs Flaks' ResponseParser over the bytes an upstream sent on one connection, the way the proxy
/// drives it: every response answers a GET that asked to upgrade (so a 101 is accepted), and after
/// each response the next request is taken as sent only if that response kept the connection alive
/// and more bytes follow (otherwise the proxy sends nothing more, and any further byte is an error). Output:
///   {"status": "accepted" | "rejected" | "incomplete" | "upgrade",
///    "error": {"code": 502, "reason": "..."}        (rejected only)
///    "pending": "head" | "body"                    (incomplete only)
///    "eof": "end" | "none" | "error: ..."          (what inputEnded says when the input stops there)
///    "tunnel": hex                                 (upgrade only: the bytes after the 101's head)
///    "responses": [{"kind": "interim" | "final" | "switching", "status", "reason", "version",
///                   "headers": [[name, value], ...], "trailers": [...], "body": hex,
///                   "keepAlive", "complete"}]}
/// Responses whose head was parsed are listed, the last one possibly incomplete (its body so far).
func dumpResponses(_ input: [UInt8]) -> String {
    var parser = ResponseParser(limits: ResponseParseLimits(maxHead: 1 << 20, maxHeaderCount: 10_000))
    parser.startResponse(to: .GET, upgradeRequested: true)
    struct Seen { var kind: String; var head: ResponseHead; var body: [UInt8] = []; var trailers = HeaderFields(); var complete = false }
    var offset = 0
    var seen: [Seen] = []
    var inBody = false
    var failure: ResponseParseError?
    var tunnel: [UInt8]?
    var idle = 0
    loop: while true {
        let result = input.withUnsafeBytes { all in
            Result { () throws(ResponseParseError) -> ResponseParseResult in
                try parser.parse(UnsafeRawBufferPointer(rebasing: all[offset...]))
            }
        }
        let r: ResponseParseResult
        switch result {
        case .success(let ok): r = ok
        case .failure(let error): failure = error; break loop
        }
        switch r.event {
        case .needMoreBytes:
            offset += r.consumed
            break loop
        case .interim(let h):
            seen.append(Seen(kind: "interim", head: h, complete: true))
        case .switchingProtocols(let h):
            seen.append(Seen(kind: "switching", head: h, complete: true))
            tunnel = Array(input[(offset + r.consumed)...])
            break loop
        case .head(let h):
            seen.append(Seen(kind: "final", head: h))
            inBody = true
        case .body(let range):
            seen[seen.count - 1].body += input[(offset + range.lowerBound)..<(offset + range.upperBound)]
        case .trailers(let t):
            seen[seen.count - 1].trailers = t
        case .end:
            seen[seen.count - 1].complete = true
            inBody = false
            // The proxy sends another request only on a connection that stays open; model that
            // request as sent when more bytes arrive (so a clean end of input is not a truncation).
            if seen[seen.count - 1].head.keepAlive && offset + r.consumed < input.count {
                parser.startResponse(to: .GET, upgradeRequested: true)
            }
        }
        offset += r.consumed
        idle = r.consumed == 0 ? idle + 1 : 0
        precondition(idle < 3, "parser made no progress")
    }
    var eof = "none"
    if failure == nil && tunnel == nil {
        var atEOF = parser
        do {
            if try atEOF.inputEnded() == .end { eof = "end" }
        } catch {
            eof = "error: " + error.description
        }
    }

    var out = "{\"status\":"
    if let failure {
        out += "\"rejected\",\"error\":{\"code\":\(failure.status.code),\"reason\":" + json(failure.description) + "}"
    } else if let tunnel {
        out += "\"upgrade\",\"tunnel\":\"" + hex(tunnel) + "\""
    } else if inBody {
        out += "\"incomplete\",\"pending\":\"body\""
    } else if offset < input.count {
        out += "\"incomplete\",\"pending\":\"head\""
    } else {
        out += "\"accepted\""
    }
    out += ",\"eof\":" + json(eof) + ",\"responses\":["
    for (k, s) in seen.enumerated() {
        if k > 0 { out += "," }
        let h = s.head
        out += "{\"kind\":\"\(s.kind)\",\"status\":\(h.status.code),\"reason\":" + json(h.reason)
        out += ",\"version\":\"\(h.version.major).\(h.version.minor)\",\"headers\":" + fields(h.headers)
        out += ",\"trailers\":" + fields(s.trailers)
        out += ",\"body\":\"" + hex(s.body) + "\",\"keepAlive\":\(h.keepAlive),\"complete\":\(s.complete)}"
    }
    return out + "]}"
}

/// `[[name, value], ...]`
func fields(_ f: HeaderFields) -> String {
    "[" + f.fields.map { "[" + json($0.name) + "," + json($0.value) + "]" }.joined(separator: ",") + "]"
}

import FlaksHTTP

/// The response side of the header rewriting: which fields of an upstream response head (final or
/// 1xx) go on to the client.
public enum UpstreamResponse {
    /// The fields of an upstream head to pass to the client, in order, repeats kept, less:
    /// - hop-by-hop fields (RFC 9110 §7.6.1): Connection and every field it names, Keep-Alive,
    ///   Proxy-Connection, TE, Trailer, Transfer-Encoding, and Upgrade;
    /// - Proxy-Authenticate (RFC 9110 §11.7.1: it "applies only to the next outbound client", which
    ///   is this proxy);
    /// - Content-Length: the executor frames the client's response itself (`ResponsePlan`); the
    ///   length it needs is `ProxyExchange.ResponseStart.bodyLength`.
    ///
    /// For the 101 that starts a WebSocket tunnel (`tunnel: true`) the upstream's Connection and
    /// Upgrade lines are replaced by exactly `Connection: upgrade` and `Upgrade: websocket`
    /// (RFC 9110 §7.8: a 101 MUST carry Upgrade; RFC 6455 §4.2.2 asks for both), and nothing a
    /// Connection line names is sent.
    ///
    /// Date and Server pass here; `ResponseHeadEncoder` replaces them with the server's own.
    public static func clientFields(_ headers: HeaderFields, tunnel: Bool = false) -> HeaderFields {
        // Names compared in place and the kept fields copied into one array: 19,600 instructions per
        // proxied response before (a lowercased String and a Set lookup per field, a Set of the
        // Connection options, an append per field), 3,100 after (bench/proxy-instructions.sh, nginx's
        // 5-field answer).
        let named = FieldLists.connectionNames(headers)
        var kept: [HeaderField] = []
        kept.reserveCapacity(headers.count + (tunnel ? 2 : 0))
        for field in headers {
            if FieldLists.isDroppedFromResponses(field.name) || FieldLists.names(named, contain: field.name) { continue }
            kept.append(field)
        }
        if tunnel {
            kept.append(HeaderField(name: "Connection", value: "upgrade"))
            kept.append(HeaderField(name: "Upgrade", value: "websocket"))
        }
        return HeaderFields(kept)
    }

    static let droppedFromResponses: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "proxy-authenticate", "content-length",
    ]

    /// The value of the upstream's Content-Length field (validated by `ResponseParser`: digits, a
    /// list or repeats agreeing), or nil. Used for the answer to HEAD, whose framing is `.none`
    /// although the field announces the GET body's length (RFC 9110 §8.6).
    static func contentLength(_ headers: HeaderFields) -> Int? {
        guard let first = FieldLists.elements(headers, "Content-Length").first else { return nil }
        var n = 0
        for b in first.utf8 {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(b - 0x30))
            if o1 || o2 { return nil }
            n = s
        }
        return n
    }
}

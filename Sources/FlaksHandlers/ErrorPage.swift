import FlaksHTTP

/// Small built-in error responses (plain HTML, like nginx's).
public enum ErrorPage {
    /// A short HTML page naming the status; `detail` is escaped.
    public static func response(_ status: HTTPStatus, detail: String? = nil) -> Response {
        var html = "<!DOCTYPE html>\n<html><head><title>\(status.code) \(status.reason)</title></head>\n<body><h1>\(status.code) \(status.reason)</h1>"
        if let detail { html += "<p>\(escapeHTML(detail))</p>" }
        html += "<hr><p>flaks</p></body></html>\n"
        return Response(status: status, headers: ["Content-Type": "text/html; charset=utf-8"], body: .bytes(Array(html.utf8)))
    }

    /// Escapes &, <, >, " and ' for HTML text and attributes.
    public static func escapeHTML(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}

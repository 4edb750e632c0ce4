import FlaksHTTP
@testable import FlaksHandlers
import Testing

/// The request accessors CGI and FastCGI variables are made from (QUERY_STRING, SERVER_NAME,
/// SERVER_PROTOCOL), found by byte searches.
struct RequestAccessorTests {
    func request(_ target: String, host: String?, local: String = "192.0.2.1") -> Request {
        var h = HeaderFields()
        if let host { h.add("Host", host) }
        return Request(head: RequestHead(method: .GET, target: target, version: .http1_1, headers: h), path: "/",
                       localAddress: local)
    }

    @Test(arguments: [
        ("/a", nil), ("/a?", ""), ("/a?b=1", "b=1"), ("/a?x?y", "x?y"), ("/?q=%3F", "q=%3F"),
        ("http://h.test/p?q=1", "q=1"), ("http://h.test/p", nil), ("*", nil),
    ] as [(String, String?)])
    func query(_ target: String, _ expected: String?) {
        #expect(request(target, host: "h.test").query.map(String.init) == expected)
    }

    @Test(arguments: [
        ("a.test", "a.test"), ("Example.TEST:8080", "example.test"), ("[::1]:80", "::1"), ("[::1]", "::1"),
        ("[FE80::1]", "fe80::1"), ("A", "a"), ("127.0.0.1:8080", "127.0.0.1"), ("h.test:", "h.test"),
    ])
    func serverName(_ host: String, _ expected: String) {
        #expect(request("/", host: host).serverName == expected)
    }

    @Test func serverNameWithoutHostIsTheLocalAddress() {
        #expect(request("/", host: nil, local: "198.51.100.9").serverName == "198.51.100.9")
        #expect(request("http://Abs.Test:81/x", host: "other.test").serverName == "abs.test", "absolute-form wins")
    }

    @Test func versionNames() {
        #expect(HTTPVersion.http1_1.description == "HTTP/1.1")
        #expect(HTTPVersion.http1_0.description == "HTTP/1.0")
        #expect(HTTPVersion(major: 2, minor: 0).description == "HTTP/2.0")
    }
}

import Testing
@testable import FlaksRouting

@Suite struct HostMatchingTests {
    let t: RouteTree<String>
    init() throws {
        t = try tree([
            (["example.com", "www.example.com"], ["/exact"]),
            (["*.example.com"], ["/wild"]),
            (["*.api.example.com"], ["/api"]),
            (["[::1]", "127.0.0.1", "fe80::1"], ["/local"]),
            (["*"], ["/default"]),
        ])
    }

    @Test(arguments: [
        ("example.com", "/exact"),
        ("www.example.com", "/exact"),
        ("EXAMPLE.com", "/exact"),
        ("example.com.", "/exact"),
        ("example.com:8080", "/exact"),
        ("Example.COM.:443", "/exact"),
        ("a.example.com", "/wild"),
        ("a.b.example.com", "/wild"),
        ("v1.api.example.com", "/api"),         // longer suffix wins
        ("x.v1.api.example.com", "/api"),
        ("api.example.com", "/wild"),           // "*.api.example.com" needs a label before it
        ("[::1]:8080", "/local"),
        ("[::1]", "/local"),
        ("[FE80::1]:8443", "/local"),
        ("127.0.0.1:80", "/local"),
        ("other.org", "/default"),
        ("xexample.com", "/default"),           // not a label boundary
        ("", "/default"),
    ])
    func hostPicksRoutes(host: String, route: String) {
        #expect(outcome(t, host: host, route) == "\(route)||")
    }

    @Test func missingHostHeaderUsesDefault() {
        #expect(outcome(t, host: nil, "/default") == "/default||")
    }

    @Test func wildcardDoesNotMatchBareSuffix() throws {
        let t = try tree([(["*.example.com"], ["/"])])
        #expect(outcome(t, host: "example.com", "/") == "421")
        #expect(outcome(t, host: "a.example.com", "/") == "/||")
    }

    @Test func unknownHostWithoutDefault() throws {
        let t = try tree([(["example.com"], ["/"])])
        #expect(outcome(t, host: "other.com", "/") == "421")
        #expect(outcome(t, host: nil, "/") == "421")
    }

    @Test func exactBeatsWildcardEvenWhenDeclaredLater() throws {
        let t = try tree([(["*.example.com"], ["/w"]), (["a.example.com"], ["/e"])])
        #expect(outcome(t, host: "a.example.com", "/e") == "/e||")
        #expect(outcome(t, host: "b.example.com", "/w") == "/w||")
    }

    @Test(arguments: [
        (["a.com", "A.com"], "host name \"A.com\" is used twice"),
        (["*", "*"], "host name \"*\" is used twice"),
        (["a b"], "bad host name \"a b\": expected a DNS name, an IP address, \"*.suffix\" or \"*\""),
        (["*.*.com"], "bad host name \"*.*.com\": expected a DNS name, an IP address, \"*.suffix\" or \"*\""),
        (["a.*.com"], "bad host name \"a.*.com\": expected a DNS name, an IP address, \"*.suffix\" or \"*\""),
        ([], "a host needs at least one name"),
        (["a.com:8080"], "bad host name \"a.com:8080\": a port or \":\" outside an IPv6 address cannot match (ports are ignored)"),
        (["*.a:b"], "bad host name \"*.a:b\": a port or \":\" outside an IPv6 address cannot match (ports are ignored)"),
    ])
    func badHostNames(names: [String], message: String) {
        var b = RouteTreeBuilder<String>()
        #expect(throws: RouteError(message)) { try b.addHost(names: names, routes: []) }
    }

    @Test func duplicateNameAcrossHosts() throws {
        var b = RouteTreeBuilder<String>()
        try b.addHost(names: ["a.com"], routes: [])
        #expect(throws: RouteError("host name \"a.com.\" is used twice")) { try b.addHost(names: ["a.com."], routes: []) }
    }

    /// `readsHost` is false only for a tree whose one host is `*`: then any Host value, or none,
    /// routes the same (the server then does not look for the field).
    @Test func readsHostOnlyWhenAHostHasANameOtherThanTheDefault() throws {
        #expect(t.readsHost)
        #expect(try tree([(["example.com"], ["/a"])]).readsHost)
        #expect(try tree([(["*.example.com"], ["/a"]), (["*"], ["/b"])]).readsHost)
        let onlyDefault = try tree([(["*"], ["/a", "/p/", "/u/<int:id>"])])
        #expect(!onlyDefault.readsHost)
        for path in ["/a", "/p/x/y", "/u/7", "/u/x", "/nothing"] {
            for host: String? in [nil, "", "example.com", "EXAMPLE.com:80", "[::1]", "bad host"] {
                #expect(outcome(onlyDefault, host: host, path) == outcome(onlyDefault, host: nil, path))
            }
        }
    }
}

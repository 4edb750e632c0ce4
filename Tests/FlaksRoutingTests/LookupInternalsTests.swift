import Testing
@testable import FlaksRouting

/// The non-generic pieces under `RouteTree.lookup`: the byte-keyed table, the in-place host
/// fast path, and parameter values cut from the path after the search.
@Suite struct LookupInternalsTests {
    @Test func byteTableFindsEveryKeyLengthAndOwner() {
        var t = ByteTable()
        // Lengths 0...40 cover the word loop, the overlapping 4-byte tail and the 1...3 byte tail.
        let keys = (0...40).map { n in String((0..<n).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) }) }
        for (i, k) in keys.enumerated() {
            t.set(owner: 1, k, to: i)
            t.set(owner: 2, k, to: 1000 + i)
        }
        #expect(t.count == keys.count * 2)
        for (i, k) in keys.enumerated() {
            #expect(t.find(owner: 1, k) == i)
            #expect(t.find(owner: 2, k) == 1000 + i)
            #expect(t.find(owner: 3, k) == nil)
        }
        // Same length, one byte different, at each position.
        for k in keys where !k.isEmpty {
            for p in 0..<k.utf8.count {
                var b = Array(k.utf8)
                b[p] = UInt8(ascii: "Z")
                #expect(t.find(owner: 1, String(decoding: b, as: UTF8.self)) == nil, "\(k) at \(p)")
            }
        }
        t.set(owner: 1, "abc", to: -5)
        #expect(t.find(owner: 1, "abc") == -5)
        #expect(t.count == keys.count * 2)
    }

    @Test func byteTableGrowsPastManyKeys() {
        var t = ByteTable()
        for i in 0..<5_000 { t.set(owner: i % 7, "/k\(i)", to: i) }
        for i in 0..<5_000 { #expect(t.find(owner: i % 7, "/k\(i)") == i) }
        #expect(t.find(owner: 0, "/k1") == nil)
    }

    @Test(arguments: [
        ("example.com", "/e||"),              // in place
        ("EXAMPLE.COM", "/e||"),              // lowercased first
        ("example.com.", "/e||"),
        ("example.com:80", "/e||"),
        ("a.example.com", "/w||"),
        ("A.Example.Com.:8443", "/w||"),
        ("ex\u{e9}mple.com", "/d||"),         // non-ASCII never matches a name
        ("\u{c9}.EXAMPLE.com", "/w||"),       // ... but may end in a wildcard's suffix
        ("[::1]", "/v6||"),
        ("::1", "/v6||"),
    ])
    func hostForms(host: String, expected: String) throws {
        let t = try tree([(["example.com"], ["/e"]), (["*.example.com"], ["/w"]), (["[::1]"], ["/v6"]),
                          (["*"], ["/d"])])
        let path = String(expected.prefix { $0 != "|" })
        #expect(outcome(t, host: host, path) == expected)
    }

    @Test func defaultOnlyTreeIgnoresTheHeader() throws {
        let t = try tree([(["*"], ["/"])])
        for host in [nil, "", "x", "EXAMPLE.com:1", "[::1]:80", "\u{e9}"] as [String?] {
            #expect(outcome(t, host: host, "/") == "/||")
        }
    }

    @Test(arguments: [
        ("/u/caf\u{e9}/p/7", "/u/<name>/p/<int:n>||name=caf\u{e9},n=7"),
        ("/u/\u{1F600}x/p/0012", "/u/<name>/p/<int:n>||name=\u{1F600}x,n=0012"),
        ("/f/\u{e9}/b/c\u{e9}.txt", "/f/<path:rest>||rest=\u{e9}/b/c\u{e9}.txt"),
        ("/t/r\u{e9}d/m/\u{e9}", "/t/<team>/|m/\u{e9}|team=r\u{e9}d"),
        ("/t/x/", "/t/<team>/||team=x"),
        ("/s/a/b/c/d", "/s/<a>/<b>/<path:c>||a=a,b=b,c=c/d"),
        ("/x/a-very-long-segment-beyond-fifteen-bytes/y", "/x/<long>/y||long=a-very-long-segment-beyond-fifteen-bytes"),
        ("/p/a-remainder-longer-than-fifteen-bytes", "/p/|a-remainder-longer-than-fifteen-bytes|"),
    ])
    func valuesAreCutFromThePath(path: String, expected: String) throws {
        let t = try tree([(["*"], ["/u/<name>/p/<int:n>", "/f/<path:rest>", "/t/<team>/", "/s/<a>/<b>/<path:c>",
                                   "/x/<long>/y", "/p/"])])
        #expect(outcome(t, path) == expected)
    }

    @Test func routeNumbersFollowHostsInOrder() throws {
        var b = RouteTreeBuilder<Int>()
        try b.addHost(names: ["a.com"], routes: [("/", 0), ("/x", 1)])
        #expect(throws: RouteError.self) { try b.addHost(names: ["a.com"], routes: [("/", 99)]) }
        try b.addHost(names: ["b.com"], routes: [("/", 2), ("/u/<int:id>", 3), ("/d/", 4)])
        let t = b.build()
        func target(_ host: String, _ path: String) -> Int? {
            if case .found(let m) = t.lookup(host: host, path: path) { return m.target }
            return nil
        }
        #expect(target("a.com", "/") == 0)
        #expect(target("a.com", "/x") == 1)
        #expect(target("b.com", "/x") == 2)
        #expect(target("b.com", "/u/5") == 3)
        #expect(target("b.com", "/d/z") == 4)
        #expect(t.entries.map { $0.routes.map(\.target) } == [[0, 1], [2, 3, 4]])
    }

    @Test func staticChildrenOfOneNodeDoNotLeakToAnother() throws {
        // "b" is a literal child of "/a" only: "/c/b/..." must not find it through the shared edge table.
        let t = try tree([(["*"], ["/a/b/<x>", "/c/d/<x>"])])
        #expect(outcome(t, "/a/b/z") == "/a/b/<x>||x=z")
        #expect(outcome(t, "/c/d/z") == "/c/d/<x>||x=z")
        #expect(outcome(t, "/c/b/z") == "404")
        #expect(outcome(t, "/a/d/z") == "404")
    }

    @Test func exactPathsOfEveryLengthAreFound() throws {
        // Exact paths skip the hash unless one of their length exists; lengths from 63 share a bit.
        let long = "/" + String(repeating: "a", count: 69)
        let t = try tree([(["*"], ["/", "/ab", long, long + "b"])])
        #expect(outcome(t, "/ab") == "/ab||")
        #expect(outcome(t, "/abc") == "/|abc|")
        #expect(outcome(t, long) == "\(long)||")
        #expect(outcome(t, long + "b") == "\(long)b||")
        #expect(outcome(t, long + "c") == "/|\(long.dropFirst())c|")
    }
}

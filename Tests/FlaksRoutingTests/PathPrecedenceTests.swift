import Testing
@testable import FlaksRouting

@Suite struct PathPrecedenceTests {
    let t: RouteTree<String>
    init() throws {
        t = try tree([(["*"], [
            "/",
            "/docs/",
            "/docs/api/",
            "/docs/api/v1",
            "/users/<name>",
            "/users/me",
            "/users/<int:id>",
            "/users/<uuid:u>",
            "/users/<name>/posts/<int:post>",
            "/price/<float:x>",
            "/files/<path:rest>",
            "/files/readme",
            "/a/<x>/c",
            "/<y>/b/<z>",
            "/teams/<team>/",
        ])])
    }

    @Test(arguments: [
        ("/", "/||"),
        ("/docs/api/v1", "/docs/api/v1||"),                       // exact beats prefix
        ("/docs/api/v2", "/docs/api/|v2|"),                       // longer prefix first
        ("/docs/api/", "/docs/api/||"),                           // a prefix matches itself with "/"
        ("/docs/api", "/docs/|api|"),                             // ... but not without it
        ("/docs/", "/docs/||"),
        ("/docs", "/|docs|"),
        ("/docs/a/b/c", "/docs/|a/b/c|"),
        ("/users/me", "/users/me||"),                             // exact beats pattern
        ("/users/42", "/users/<int:id>||id=42"),                  // int beats string
        ("/users/4x2", "/users/<name>||name=4x2"),
        ("/users/123e4567-e89b-12d3-a456-426614174000", "/users/<uuid:u>||u=123e4567-e89b-12d3-a456-426614174000"),
        ("/users/bob/posts/7", "/users/<name>/posts/<int:post>||name=bob,post=7"),
        ("/users/bob/posts/x", "/|users/bob/posts/x|"),           // pattern fails, falls to prefix
        ("/users/", "/|users/|"),                                  // string never matches ""
        ("/price/1.50", "/price/<float:x>||x=1.50"),
        ("/price/1", "/|price/1|"),
        ("/files/readme", "/files/readme||"),
        ("/files/a/b/c.txt", "/files/<path:rest>||rest=a/b/c.txt"),
        ("/files/a/", "/files/<path:rest>||rest=a/"),
        ("/files/", "/|files/|"),                                  // path is non-empty
        ("/a/b/c", "/a/<x>/c||x=b"),                                // literal first at each position
        ("/a/b/d", "/<y>/b/<z>||y=a,z=d"),                          // backtracks to the other branch
        ("/teams/red/", "/teams/<team>/||team=red"),                // prefix with a parameter
        ("/teams/red/members/1", "/teams/<team>/|members/1|team=red"),
        ("/teams/red", "/|teams/red|"),
    ])
    func precedence(path: String, expected: String) {
        #expect(outcome(t, path) == expected)
    }

    @Test func noRootMeansNotFound() throws {
        let t = try tree([(["*"], ["/a", "/b/"])])
        #expect(outcome(t, "/c") == "404")
        #expect(outcome(t, "/b") == "404")
        #expect(outcome(t, "/b/x") == "/b/|x|")
    }

    @Test func matchExposesParameterByName() throws {
        guard case .found(let m) = t.lookup(host: nil, path: "/users/bob/posts/7") else { Issue.record("no match"); return }
        #expect(m.parameter("post") == "7")
        #expect(m.parameter("nope") == nil)
    }

    @Test(arguments: [
        (["/a", "/a"], "route \"/a\" is declared twice"),
        (["/u/<int:a>", "/u/<int:b>"], "route \"/u/<int:b>\" conflicts with \"/u/<int:a>\""),
        (["/u/<a>", "/u/<string:b>"], "route \"/u/<string:b>\" conflicts with \"/u/<a>\""),
        (["/x/", "/x/"], "route \"/x/\" is declared twice"),
    ])
    func conflicts(paths: [String], message: String) {
        var b = RouteTreeBuilder<String>()
        #expect(throws: RouteError(message)) { try b.addHost(names: ["*"], routes: paths.map { ($0, $0) }) }
    }

    @Test func failedAddHostLeavesBuilderUnchanged() throws {
        var b = RouteTreeBuilder<String>()
        try b.addHost(names: ["a.com"], routes: [("/", "/")])
        #expect(throws: RouteError.self) { try b.addHost(names: ["b.com"], routes: [("/x", "/x"), ("/x", "/x")]) }
        try b.addHost(names: ["b.com"], routes: [("/y", "/y")])
        #expect(outcome(b.build(), host: "b.com", "/y") == "/y||")
    }

    @Test func describeAndEntries() throws {
        let t = try tree([(["a.com", "*.a.com"], ["/", "/x", "/u/<int:id>"])])
        #expect(t.describe() == "host a.com, *.a.com\n  / (prefix)\n  /x (exact)\n  /u/<int:id> (pattern)\n")
        #expect(t.entries.map(\.names) == [["a.com", "*.a.com"]])
        #expect(t.entries[0].routes.map(\.path) == ["/", "/x", "/u/<int:id>"])
    }
}

import FlaksConfig
import FlaksHTTP
import Testing
@testable import FlaksHandlers

/// `redirect:` with `keep_path`: what the request adds to the Location is re-encoded, so it can
/// neither leave the host nor turn path bytes into a query or fragment.
@Suite("Redirect handler")
struct RedirectHandlerTests {
    /// The Location for a request whose decoded path is `path` (as the normaliser returns it) on a
    /// prefix mount `mount`.
    func location(target: String, mount: String = "/go/", path: String, query: String? = nil,
                  keepPath: Bool = true) -> String? {
        let head = RequestHead(method: .GET, target: "/raw" + (query.map { "?" + $0 } ?? ""), version: .http1_1, headers: [:])
        let remainder = path.hasPrefix(mount) ? String(path.dropFirst(mount.count)) : ""
        let request = Request(head: head, path: path, routePath: mount, remainder: remainder)
        guard case .response(let r) = RedirectHandler(RedirectRoute(target: target, keepPath: keepPath)).handle(request) else {
            Issue.record("not an immediate response"); return nil
        }
        return r.headers["Location"]
    }

    @Test(arguments: [
        // A backslash and a TAB: browsers read "/\evil.example" and "/<TAB>/evil.example" as //evil.example.
        ("/go/\\evil.example", "/%5Cevil.example"),
        ("/go/\t/evil.example", "/%09/evil.example"),
        // "?" and "#" in the decoded path stay path bytes.
        ("/go/a%3Fb", "/a%253Fb"),
        ("/go/a?b#c", "/a%3Fb%23c"),
        ("/go/caf\u{E9} au lait", "/caf%C3%A9%20au%20lait"),
        ("/go/a:b@c/d;e=f", "/a:b@c/d;e=f"),
        // A remainder with a leading "/" (not made by the normaliser) must not make "//evil.example".
        ("/go//evil.example", "/evil.example"),
        ("/go///evil.example", "/evil.example"),
        ("/go/", "/"),
    ])
    func keepPathReencodesTheRest(path: String, expected: String) {
        #expect(location(target: "/", path: path) == expected)
    }

    @Test func theQueryIsKeptAsReceived() {
        #expect(location(target: "/new", path: "/go/a b", query: "q=%20a+b&x=%2F") == "/new/a%20b?q=%20a+b&x=%2F")
        #expect(location(target: "https://new.example/", path: "/go/", query: "x") == "https://new.example/?x")
    }

    @Test func absoluteTargetsGetTheEncodedRest() {
        #expect(location(target: "https://new.example", path: "/go/\\x/%41") == "https://new.example/%5Cx/%2541")
        #expect(location(target: "https://new.example/base/", path: "/go/") == "https://new.example/base/")
    }

    @Test func withoutKeepPathTheTargetIsAllThereIs() {
        #expect(location(target: "/new", path: "/go/\\evil.example", query: "a", keepPath: false) == "/new")
    }

    /// No request can make a relative target's Location start with "//" or "/\".
    @Test func aRelativeTargetNeverBecomesANetworkPath() {
        let nasty = ["/", "//", "\\", "/\\", "\\\\", "\t", "\t/", " /", "%2F", "/%5C", "?/", "#//"]
        for target in ["/", "/new/", "/new"] {
            for a in nasty {
                for b in nasty {
                    let loc = location(target: target, path: "/go/" + a + b) ?? "//"
                    #expect(!loc.hasPrefix("//") && !loc.hasPrefix("/\\"), "target \(target), rest \(a + b) -> \(loc)")
                    #expect(!loc.contains("\t") && !loc.contains("\\") && !loc.contains(" "), "\(loc)")
                }
            }
        }
    }
}

import FlaksHTTP
import Testing
@testable import FlaksProxy

/// The request-target sent upstream: byte for byte, absolute-form made origin-form, the mount path
/// cut with strip_prefix, dot-segments refused in every spelling.
@Suite struct UpstreamTargetTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let target: String
        let mount: String
        let strip: Bool
        /// The expected target, or nil for the expected error.
        let expected: String?
        let error: UpstreamRequestError?
        var testDescription: String { name }

        init(_ name: String, _ target: String, mount: String = "/", strip: Bool = false, _ expected: String) {
            self.name = name; self.target = target; self.mount = mount; self.strip = strip
            self.expected = expected; error = nil
        }
        init(_ name: String, _ target: String, mount: String = "/", strip: Bool = false, error: UpstreamRequestError) {
            self.name = name; self.target = target; self.mount = mount; self.strip = strip
            expected = nil; self.error = error
        }
    }

    static let asReceived: [Case] = [
        Case("origin-form unchanged", "/a/b?c=d&e", "/a/b?c=d&e"),
        Case("encoded slash stays encoded", "/files/a%2Fb/c?x=%2F", "/files/a%2Fb/c?x=%2F"),
        Case("lower-case encoded slash stays as sent", "/a%2fb", "/a%2fb"),
        Case("repeated slashes as sent", "/a//b", "/a//b"),
        Case("percent escapes as sent", "/caf%C3%A9/%7Euser", "/caf%C3%A9/%7Euser"),
        Case("three dots are a name", "/a/.../b", "/a/.../b"),
        Case("dot-dot-name is a name", "/a/..b/c", "/a/..b/c"),
        Case("dot-name is a name", "/a/.well-known/x", "/a/.well-known/x"),
        Case("trailing dot in a name", "/a/b.", "/a/b."),
        Case("double-encoded dots are data", "/a/%252e%252e/b", "/a/%252e%252e/b"),
        Case("dots in the query only", "/a/b?x=/../../etc", "/a/b?x=/../../etc"),
        Case("semicolon after a name", "/a;../b", "/a;../b"),
        Case("bad percent escape passed as sent", "/a/%zz", "/a/%zz"),
        Case("absolute-form to origin-form", "http://example.test/x/y?z=1", "/x/y?z=1"),
        Case("absolute-form https with port", "https://example.test:8443/p", "/p"),
        Case("absolute-form without path", "http://example.test", "/"),
        Case("absolute-form with query and no path", "http://example.test?q=1", "/?q=1"),
    ]

    static let dotSegments: [Case] = [
        Case("/a/./b", "/a/./b", error: .dotSegment),
        Case("/a/../b", "/a/../b", error: .dotSegment),
        Case("trailing /..", "/a/..", error: .dotSegment),
        Case("trailing /.", "/a/.", error: .dotSegment),
        Case("root /..", "/..", error: .dotSegment),
        Case("/a/%2e%2e/b", "/a/%2e%2e/b", error: .dotSegment),
        Case("/a/%2e%2E/b mixed case", "/a/%2e%2E/b", error: .dotSegment),
        Case("/a/%2E%2e/b", "/a/%2E%2e/b", error: .dotSegment),
        Case("/a/%2E/b", "/a/%2E/b", error: .dotSegment),
        Case("half-encoded .%2e", "/a/.%2e/b", error: .dotSegment),
        Case("half-encoded %2e.", "/a/%2e./b", error: .dotSegment),
        Case("behind encoded slashes", "/a%2F..%2Fb", error: .dotSegment),
        Case("behind lower-case encoded slashes", "/a%2f%2e%2e%2fb", error: .dotSegment),
        Case("behind backslashes", "/a\\..\\b", error: .dotSegment),
        Case("behind encoded backslash", "/a/..%5Cb", error: .dotSegment),
        Case("Tomcat path parameter ..;", "/a/..;jsessionid=1/b", error: .dotSegment),
        Case("path parameter .;", "/a/.;x/b", error: .dotSegment),
        Case("encoded semicolon %3b", "/a/%2e%2e%3bx/b", error: .dotSegment),
        Case("before a query", "/a/..?q=1", error: .dotSegment),
        Case("in absolute-form", "http://example.test/a/../b", error: .dotSegment),
        Case("with strip_prefix", "/app/../admin", mount: "/app/", strip: true, error: .dotSegment),
    ]

    static let refused: [Case] = [
        Case("asterisk-form", "*", error: .badTarget("asterisk-form (\"*\")")),
        Case("fragment", "/a#b", error: .badTarget("a fragment (\"#\")")),
        Case("userinfo in absolute-form", "http://user@example.test/x", error: .badTarget("userinfo in the authority")),
    ]

    static let strip: [Case] = [
        Case("/app/x -> /x", "/app/x", mount: "/app/", strip: true, "/x"),
        Case("/app/ -> /", "/app/", mount: "/app/", strip: true, "/"),
        Case("bare /app under /app/ -> /", "/app", mount: "/app/", strip: true, "/"),
        Case("query kept", "/app/?q=1&r", mount: "/app/", strip: true, "/?q=1&r"),
        Case("bare mount with query", "/app?q=1", mount: "/app/", strip: true, "/?q=1"),
        Case("deeper path and query", "/app/x/y?z", mount: "/app/", strip: true, "/x/y?z"),
        Case("one leading slash kept", "/app//x", mount: "/app/", strip: true, "/x"),
        Case("encoded slash in the rest kept", "/app/a%2Fb", mount: "/app/", strip: true, "/a%2Fb"),
        Case("encoded slash right after the mount kept", "/app/%2Fx", mount: "/app/", strip: true, "/%2Fx"),
        Case("mount spelled with an escape", "/%61pp/x", mount: "/app/", strip: true, "/x"),
        Case("repeated slash inside the mount", "/a//b/c", mount: "/a/b/", strip: true, "/c"),
        Case("exact mount", "/app", mount: "/app", strip: true, "/"),
        Case("exact mount with query", "/app?x", mount: "/app", strip: true, "/?x"),
        Case("root mount", "/x/y", mount: "/", strip: true, "/x/y"),
        Case("root mount, root path", "/", mount: "/", strip: true, "/"),
        Case("absolute-form then strip", "http://h/app/x?q", mount: "/app/", strip: true, "/x?q"),
        Case("strip off leaves the mount", "/app/x", mount: "/app/", strip: false, "/app/x"),
        Case("encoded slash where the mount has one", "/app%2Fx", mount: "/app/", strip: true, error: .mountMismatch),
        Case("another prefix", "/other/x", mount: "/app/", strip: true, error: .mountMismatch),
        Case("shorter than the mount", "/ap", mount: "/app/", strip: true, error: .mountMismatch),
    ]

    @Test(arguments: asReceived + dotSegments + refused + strip)
    func rewrite(_ c: Case) {
        do {
            let t = try UpstreamTarget.rewrite(c.target, mountPath: c.mount, stripPrefix: c.strip)
            #expect(c.error == nil, "expected \(String(describing: c.error)), got \(t)")
            #expect(t == c.expected)
        } catch {
            #expect(error == c.error, "\(c.name): \(error)")
        }
    }

    /// Every dot-segment case is also found by `hasDotSegment` on its own, and every name case is not.
    @Test func dotSegmentPredicate() {
        for c in Self.dotSegments where c.target.hasPrefix("/") {
            let path = c.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
            #expect(UpstreamTarget.hasDotSegment(path), "\(c.name)")
        }
        for c in Self.asReceived where c.target.hasPrefix("/") {
            let path = c.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
            #expect(!UpstreamTarget.hasDotSegment(path), "\(c.name)")
        }
    }

    /// Each percent-encoded spelling of `.` and `..` (every case combination) is found.
    @Test func everyEncodingOfDots() {
        let dot = [".", "%2e", "%2E"]
        for a in dot {
            #expect(UpstreamTarget.hasDotSegment("/x/\(a)/y"), "\(a)")
            for b in dot {
                #expect(UpstreamTarget.hasDotSegment("/x/\(a)\(b)/y"), "\(a)\(b)")
                #expect(UpstreamTarget.hasDotSegment("/x/\(a)\(b)"), "\(a)\(b) at the end")
                for c in dot { #expect(!UpstreamTarget.hasDotSegment("/x/\(a)\(b)\(c)/y"), "three: \(a)\(b)\(c)") }
            }
        }
    }
}

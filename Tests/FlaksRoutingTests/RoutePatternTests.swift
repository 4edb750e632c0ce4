import Testing
@testable import FlaksRouting

@Suite struct RoutePatternTests {
    @Test func parsesKindsAndSegments() throws {
        let p = try RoutePattern.parse("/u/<int:id>/<name>/<path:rest>")
        #expect(p.kind == .pattern)
        #expect(p.segments == [.literal("u"), .parameter(name: "id", converter: .int),
                               .parameter(name: "name", converter: .string), .parameter(name: "rest", converter: .path)])
        #expect(p.parameterNames == ["id", "name", "rest"])
        #expect(p.shape == "/u/<int>/<string>/<path>")
        #expect(try RoutePattern.parse("/").kind == .prefix)
        #expect(try RoutePattern.parse("/").shape == "/")
        #expect(try RoutePattern.parse("/a/b/").kind == .prefix)
        #expect(try RoutePattern.parse("/a/b").kind == .exact)
    }

    @Test(arguments: [
        ("a", "a route path must start with \"/\""),
        ("", "a route path must start with \"/\""),
        ("/a//b", "empty segment (\"//\")"),
        ("/a/../b", "dot segment \"..\" (request paths are normalised)"),
        ("/u/<int:id", "a parameter must be a whole segment like <name> or <int:id>, found \"<int:id\""),
        ("/u/x<id>", "a parameter must be a whole segment like <name> or <int:id>, found \"x<id>\""),
        ("/u/<>", "parameter name \"\" is not an identifier (letters, digits, \"_\")"),
        ("/u/<hex:id>", "unknown converter \"hex\"; expected int, float, uuid, string or path"),
        ("/u/<int:1d>", "parameter name \"1d\" is not an identifier (letters, digits, \"_\")"),
        ("/u/<a:b:c>", "expected <name> or <converter:name>, found \"<a:b:c>\""),
        ("/<a>/<int:a>", "parameter \"a\" appears twice"),
        ("/<path:p>/edit", "a <path:...> parameter must be the last segment and cannot end in \"/\""),
        ("/<path:p>/", "a <path:...> parameter must be the last segment and cannot end in \"/\""),
        ("/a?b", "\"?\" and \"#\" cannot appear in a path"),
    ])
    func badPatterns(path: String, why: String) {
        #expect(throws: RouteError("bad path pattern \"\(path)\": \(why)")) { try RoutePattern.parse(path) }
    }

    @Test(arguments: [
        (RoutePattern.Converter.int, "0", true), (.int, "0042", true), (.int, "-1", false), (.int, "", false), (.int, "1.0", false),
        (.float, "1.5", true), (.float, "1.", false), (.float, ".5", false), (.float, "1", false), (.float, "1.2.3", false),
        (.uuid, "123E4567-e89b-12d3-a456-426614174000", true), (.uuid, "123e4567e89b12d3a456426614174000", false),
        (.uuid, "123e4567-e89b-12d3-a456-42661417400g", false),
        (.string, "x", true), (.string, "", false),
        (.path, "a/b", true), (.path, "", false),
    ])
    func converters(converter: RoutePattern.Converter, value: String, matches: Bool) {
        #expect(converter.matches(Substring(value)) == matches)
    }
}

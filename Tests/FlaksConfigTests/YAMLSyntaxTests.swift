import Testing
@testable import FlaksConfig

/// Invalid YAML is one error with Yams' own position.
@Suite struct YAMLSyntaxTests {
    @Test(arguments: [
        ("hosts:\n  - names: [a\n", "config.yaml:3:1: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence at 2:12)"),
        ("hosts:\n  - names: a\n   bad: indent\n", "config.yaml:3:4: invalid YAML: did not find expected '-' indicator (while parsing a block collection at 2:3)"),
        ("server: {backlog: 1}\nserver: {backlog: 2}\n", "config.yaml:1:1: invalid YAML: key \"server\" appears more than once in this mapping"),
        ("hosts: *nope\n", "config.yaml:1:8: invalid YAML: found undefined alias"),
        ("a: \"unterminated\n", "config.yaml:2:1: invalid YAML: found unexpected end of stream (while scanning a quoted scalar at 1:4)"),
    ])
    func invalidYAML(yaml: String, expected: String) throws {
        let f = try Fixture()
        #expect(f.errors(yaml) == [expected])
    }

    @Test func aliasesAreExpanded() throws {
        let f = try Fixture()
        let config = try f.load("""
        hosts:
          - names: [a.test]
            routes:
              - &ok {path: /a, respond: ok}
          - names: [b.test]
            routes: [*ok]
        """)
        #expect(config.hosts[1].routes[0].kind == .respond(RespondRoute(body: "ok")))
    }
}

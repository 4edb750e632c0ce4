import Testing
@testable import FlaksConfig

@Suite struct ConfigDiffTests {
    static let base = """
    server: {listen: ["0.0.0.0:8080"]}
    limits: {max_body: 10MiB}
    hosts:
      - names: [a.test]
        routes:
          - {path: /, respond: home}
          - {path: /old, redirect: /new}
      - names: [b.test]
        routes: [{path: /, respond: b}]
    """

    @Test func nothingChanged() throws {
        let f = try Fixture()
        let a = try f.load(Self.base)
        // Same content, moved down two lines: origins differ, nothing else.
        let b = try f.load("\n\n" + Self.base)
        #expect(b.changes(from: a) == [])
    }

    @Test func everyKindOfChange() throws {
        let f = try Fixture()
        let old = try f.load(Self.base)
        let new = try f.load("""
        server: {listen: ["0.0.0.0:8081", "[::]:8081"], threads: 4}
        limits: {max_body: 1MiB, header_timeout: 5s}
        hosts:
          - names: [a.test, www.a.test]
            errors: {404: /404.html}
            routes:
              - {path: /, respond: home v2}
              - {path: /api/, handler: api}
          - names: [c.test]
            routes: [{path: /, respond: c}]
        """)
        #expect(new.changes(from: old) == [
            "listen: 0.0.0.0:8080 -> 0.0.0.0:8081, [::]:8081",
            "server.threads: 16 -> 4",
            "limits.max_body: 10MiB -> 1MiB",
            "limits.header_timeout: 10s -> 5s",
            "host removed: b.test",
            "host a.test: names [\"a.test\"] -> [\"a.test\", \"www.a.test\"]",
            "host a.test: error pages changed",
            "host a.test: route removed /old",
            "host a.test: route changed /",
            "host a.test: route added /api/",
            "host added: c.test",
        ])
    }
}

import Testing
@testable import FlaksConfig

@Suite struct EnvironmentTests {
    @Test(arguments: [
        ("plain", "plain"),
        ("${HOST}:${PORT}", "127.0.0.1:8081"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),          // sh semantics: unset or empty
        ("${EMPTY}", ""),
        ("${PORT:-9}", "8081"),
        ("${MISSING:-}", ""),
        ("cost: $$5", "cost: $5"),
        ("$5 and $HOST", "$5 and $HOST"),            // only ${...} expands
        ("a$", "a$"),
        ("${MISSING:-a:-b}", "a:-b"),
    ])
    func expands(input: String, expected: String) throws {
        let env = ["HOST": "127.0.0.1", "PORT": "8081", "EMPTY": ""]
        #expect(try EnvironmentSubstitution.expand(input, environment: env) == expected)
    }

    @Test(arguments: [
        ("${MISSING}", "environment variable \"MISSING\" is not set (write ${MISSING:-default} to give a default)"),
        ("${OPEN", "unterminated \"${\" (write \"$$\" for a literal \"$\")"),
        ("${}", "bad variable name \"\" in \"${}\" (letters, digits, \"_\")"),
        ("${1X}", "bad variable name \"1X\" in \"${1X}\" (letters, digits, \"_\")"),
        ("${A-b}", "bad variable name \"A-b\" in \"${A-b}\" (letters, digits, \"_\")"),
    ])
    func failures(input: String, message: String) {
        do throws(EnvironmentSubstitution.Failure) {
            _ = try EnvironmentSubstitution.expand(input, environment: [:])
            Issue.record("expanded")
        } catch {
            #expect(error.message == message)
        }
    }

    @Test func manifestValuesAreExpandedKeysAreNot() throws {
        let f = try Fixture()
        let config = try f.load("""
        server:
          listen: "${BIND:-0.0.0.0}:${PORT}"
          threads: ${THREADS:-4}
        hosts:
          - names: ["${SITE}"]
            routes:
              - path: /
                static: ${ROOT}
                headers: {X-Env: "${MODE:-dev}"}
        """, env: ["PORT": "9090", "SITE": "env.test", "ROOT": "sites/example"])
        #expect(config.server.listen == [ListenAddress(host: "0.0.0.0", port: 9090)])
        #expect(config.server.threads == 4)
        #expect(config.hosts[0].names == ["env.test"])
        #expect(config.hosts[0].routes[0].kind == .staticFiles(StaticRoute(root: f.dir + "/sites/example")))
        #expect(config.hosts[0].routes[0].headers["X-Env"] == "dev")
    }

    @Test func missingVariablesAreErrorsAtTheirScalars() throws {
        let f = try Fixture()
        #expect(f.errors("""
        server: {listen: "0.0.0.0:${PORT}", backlog: "${BACKLOG}"}
        hosts:
          - names: [a.test]
            routes: [{path: /, respond: "${GREETING:-hi} ${NAME}"}]
        """) == [
            "config.yaml:1:18: server.listen: environment variable \"PORT\" is not set (write ${PORT:-default} to give a default)",
            "config.yaml:1:46: server.backlog: environment variable \"BACKLOG\" is not set (write ${BACKLOG:-default} to give a default)",
            "config.yaml:4:33: hosts[0].routes[0].respond: environment variable \"NAME\" is not set (write ${NAME:-default} to give a default)",
        ])
    }
}

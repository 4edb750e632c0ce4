import Testing
@testable import FlaksConfig

/// Every validation error, with its exact text and position. `$DIR` stands for the fixture dir.
@Suite struct ValidationTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var yaml: String
        var errors: [String]
        var env: [String: String] = [:]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "two kinds", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - path: /
                respond: ok
          - names: [b.test]
            routes:
              - path: /x
                static: sites
                cgi: sites
        """, errors: ["config.yaml:8:9: hosts[1].routes[0]: expected exactly one of static, cgi, redirect, respond, handler, proxy, fastcgi; found static and cgi"]),

        Case(name: "three kinds", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - {path: /, static: sites, redirect: /x, handler: health}
        """, errors: ["config.yaml:4:9: hosts[0].routes[0]: expected exactly one of static, cgi, redirect, respond, handler, proxy, fastcgi; found static, redirect and handler"]),

        Case(name: "no kind", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - path: /
                headers: {X-A: b}
        """, errors: ["config.yaml:4:9: hosts[0].routes[0]: expected exactly one of static, cgi, redirect, respond, handler, proxy, fastcgi; found none"]),

        Case(name: "unknown keys with and without a suggestion", yaml: """
        sever: {}
        limits:
          bogus: 1
        hosts:
          - names: [a.test]
            routes:
              - path: /old
                redirect: /new
                stauts: 302
        """, errors: [
            "config.yaml:1:1: unknown key \"sever\"; did you mean \"server\"?",
            "config.yaml:3:3: limits: unknown key \"bogus\"; expected one of max_buffer, max_body, header_timeout, body_timeout, keepalive_timeout, max_keepalive_requests",
            "config.yaml:9:9: hosts[0].routes[0]: unknown key \"stauts\"; did you mean \"status\"?",
        ]),

        Case(name: "wrong types", yaml: """
        server:
          backlog: lots
          threads: [4]
        limits:
          max_body: 10 parsecs
          header_timeout: 10
          body_timeout: 0s
        log: [stdout]
        hosts:
          - names: [a.test]
            routes:
              - path: /
                static: sites
                listing: maybe
        """, errors: [
            "config.yaml:2:12: server.backlog: expected an integer >= 1, found \"lots\"",
            "config.yaml:3:12: server.threads: expected an integer >= 1, found a list",
            "config.yaml:5:13: limits.max_body: expected a size like 512, 16KiB, 10MiB or 1GB, found \"10 parsecs\"",
            "config.yaml:6:19: limits.header_timeout: expected a duration like 250ms, 10s, 2m or 1h, found \"10\"",
            "config.yaml:7:17: limits.body_timeout: expected a duration above zero, found \"0s\"",
            "config.yaml:8:6: log: expected a mapping, found a list",
            "config.yaml:14:18: hosts[0].routes[0].listing: expected true or false, found \"maybe\"",
        ]),

        Case(name: "missing and non-directory roots", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - {path: /a/, static: nope}
              - {path: /b/, static: sites/file.txt}
              - {path: /c/, cgi: /definitely/not/here}
        """, errors: [
            "config.yaml:4:29: hosts[0].routes[0].static: static root \"$DIR/nope\" does not exist",
            "config.yaml:5:29: hosts[0].routes[1].static: static root \"$DIR/sites/file.txt\" is not a directory",
            "config.yaml:6:26: hosts[0].routes[2].cgi: cgi directory \"/definitely/not/here\" does not exist",
        ]),

        Case(name: "duplicate host names across hosts", yaml: """
        hosts:
          - names: [a.test, "*.b.test"]
          - names: [b.test, A.TEST., "*.B.test"]
        """, errors: [
            "config.yaml:3:21: hosts[1].names[1]: host name \"A.TEST.\" is already used by hosts[0].names[0]",
            "config.yaml:3:30: hosts[1].names[2]: host name \"*.B.test\" is already used by hosts[0].names[1]",
        ]),

        Case(name: "duplicate and conflicting route paths", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - {path: /x, respond: a}
              - {path: /u/<int:id>, respond: b}
              - {path: /x, respond: c}
              - {path: /u/<int:uid>, respond: d}
          - names: [b.test]
            routes:
              - {path: /x, respond: fine in another host}
        """, errors: [
            "config.yaml:6:16: hosts[0].routes[2].path: route path \"/x\" is already used by hosts[0].routes[0]",
            "config.yaml:7:16: hosts[0].routes[3].path: route path \"/u/<int:uid>\" conflicts with \"/u/<int:id>\" (hosts[0].routes[1]): same shape",
        ]),

        Case(name: "bad path patterns", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - {path: "/u/<int:id", respond: a}
              - {path: /u/<hex:id>, respond: a}
              - {path: relative, respond: a}
              - {respond: a}
        """, errors: [
            "config.yaml:4:16: hosts[0].routes[0].path: bad path pattern \"/u/<int:id\": a parameter must be a whole segment like <name> or <int:id>, found \"<int:id\"",
            "config.yaml:5:16: hosts[0].routes[1].path: bad path pattern \"/u/<hex:id>\": unknown converter \"hex\"; expected int, float, uuid, string or path",
            "config.yaml:6:16: hosts[0].routes[2].path: expected a path starting with \"/\", found \"relative\"",
            "config.yaml:7:9: hosts[0].routes[3]: missing key \"path\"",
        ]),

        Case(name: "bad listen addresses", yaml: """
        server:
          listen: ["0.0.0.0:80", localhost:80, "1.2.3.4:70000", "[::1]", "0.0.0.0:80"]
        \(minimalHosts)
        """, errors: [
            "config.yaml:2:26: server.listen[1]: expected \"host:port\" with a numeric host, \"[v6]:port\" or \":port\" (port 0-65535), found \"localhost:80\"",
            "config.yaml:2:40: server.listen[2]: expected \"host:port\" with a numeric host, \"[v6]:port\" or \":port\" (port 0-65535), found \"1.2.3.4:70000\"",
            "config.yaml:2:57: server.listen[3]: expected \"host:port\" with a numeric host, \"[v6]:port\" or \":port\" (port 0-65535), found \"[::1]\"",
            "config.yaml:2:66: server.listen[4]: listen address \"0.0.0.0:80\" is listed twice",
        ]),

        Case(name: "bad status codes", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - {path: /a, redirect: /b, status: 200}
              - {path: /b, respond: x, status: 600}
              - {path: /c, respond: x, status: 99}
              - {path: /d, respond: x, status: abc}
        """, errors: [
            "config.yaml:4:42: hosts[0].routes[0].status: expected a redirect status 301, 302, 303, 307 or 308, found \"200\"",
            "config.yaml:5:40: hosts[0].routes[1].status: expected a status code from 200 to 599, found \"600\"",
            "config.yaml:6:40: hosts[0].routes[2].status: expected a status code from 200 to 599, found \"99\"",
            "config.yaml:7:40: hosts[0].routes[3].status: expected a status code from 200 to 599, found \"abc\"",
        ]),

        Case(name: "options of another kind", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - path: /a
                redirect: /b
                index: [x.html]
                type: text/html
        """, errors: [
            "config.yaml:6:9: hosts[0].routes[0]: \"index\" applies only to static and fastcgi routes; this is a redirect route",
            "config.yaml:7:9: hosts[0].routes[0]: \"type\" applies only to respond routes; this is a redirect route",
        ]),

        Case(name: "hosts missing", yaml: "server: {backlog: 5}", errors: [
            "config.yaml:1:1: hosts: expected at least one host",
        ]),

        Case(name: "hosts empty", yaml: "hosts: []", errors: [
            "config.yaml:1:8: hosts: expected at least one host",
        ]),

        Case(name: "empty document", yaml: "# nothing\n", errors: [
            "config.yaml:1:1: the manifest is empty; expected a mapping with a \"hosts\" list",
        ]),

        Case(name: "document is a list", yaml: "- a\n- b\n", errors: [
            "config.yaml:1:1: expected a mapping with keys server, limits, cgi, log, tls, compress, services, hosts, found a list",
        ]),

        Case(name: "host shapes", yaml: """
        hosts:
          - names: []
          - routes: []
          - names: ["a b", "*.*.test"]
          - names: [c.test]
            errors: {999: /x.html, 404: x.html}
        """, errors: [
            "config.yaml:2:12: hosts[0].names: expected at least one host name",
            "config.yaml:3:5: hosts[1]: missing key \"names\" (a list of host names, \"*.suffix\" or \"*\")",
            "config.yaml:4:13: hosts[2].names[0]: bad host name \"a b\": expected a DNS name, an IP address, \"*.suffix\" or \"*\"",
            "config.yaml:4:20: hosts[2].names[1]: bad host name \"*.*.test\": expected a DNS name, an IP address, \"*.suffix\" or \"*\"",
            "config.yaml:6:14: hosts[3].errors: expected an error status from 400 to 599, found \"999\"",
            "config.yaml:6:33: hosts[3].errors.404: expected a path starting with \"/\", found \"x.html\"",
        ]),

        Case(name: "route option values", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - path: /
                static: sites
                index: [a/b.html]
                fallback: index.html
                types: {"": x}
                headers: {"Bad Name": x, X-Ok: "a\\nb"}
              - path: /cgi/
                cgi: sites/example/cgi-bin
                interpreters: {py: /usr/bin/python3}
                env: {"1BAD": x}
                pass_authorization: 1
              - {path: /h, handler: "not ok!"}
              - {path: /r, redirect: /x, keep_path: yes}
        """, errors: [
            "config.yaml:6:16: hosts[0].routes[0].index: expected file names without \"/\", found \"a/b.html\"",
            "config.yaml:7:19: hosts[0].routes[0].fallback: expected a path starting with \"/\", found \"index.html\"",
            "config.yaml:8:17: hosts[0].routes[0].types: expected a file extension like \"md\", found \"\"",
            "config.yaml:9:19: hosts[0].routes[0].headers: expected a header name (letters, digits and !#$%&'*+-.^_`|~), found \"Bad Name\"",
            "config.yaml:9:40: hosts[0].routes[0].headers.X-Ok: a header value must not contain CR, LF or NUL",
            "config.yaml:12:24: hosts[0].routes[1].interpreters: expected an extension starting with \".\", found \"py\"",
            "config.yaml:13:15: hosts[0].routes[1].env: expected an environment variable name (letters, digits, \"_\"), found \"1BAD\"",
            "config.yaml:14:29: hosts[0].routes[1].pass_authorization: expected true or false, found \"1\"",
            "config.yaml:15:29: hosts[0].routes[2].handler: expected a handler name (letters, digits, \"_\", \"-\", \".\"; built-ins: health, status, metrics), found \"not ok!\"",
            "config.yaml:16:45: hosts[0].routes[3].keep_path: expected true or false, found \"yes\"",
        ]),

        // A 1xx is interim (RFC 9110 §15.2): the client would wait for the real answer, and the
        // connection would be out of step. Exactly 200 and 599 pass, 199 and 600 fail.
        Case(name: "respond status out of the final range", yaml: """
        hosts:
          - names: [a.test]
            routes:
              - {path: /a, respond: x, status: 100}
              - {path: /b, respond: x, status: 101}
              - {path: /c, respond: x, status: 199}
              - {path: /d, respond: x, status: 600}
              - {path: /e, respond: x, status: 200}
              - {path: /f, respond: x, status: 599}
        """, errors: [
            "config.yaml:4:40: hosts[0].routes[0].status: expected a status code from 200 to 599, found \"100\"",
            "config.yaml:5:40: hosts[0].routes[1].status: expected a status code from 200 to 599, found \"101\"",
            "config.yaml:6:40: hosts[0].routes[2].status: expected a status code from 200 to 599, found \"199\"",
            "config.yaml:7:40: hosts[0].routes[3].status: expected a status code from 200 to 599, found \"600\"",
        ]),

        Case(name: "settings values", yaml: """
        server: {loops: 0, max_connections: -1, drain_timeout: 1w, idle_release: soon}
        limits: {max_buffer: 0, max_keepalive_requests: 0}
        cgi: {timeout: 5x, max_processes: none}
        log: {access: "", format: xml, level: loud}
        \(minimalHosts)
        """, errors: [
            "config.yaml:1:17: server.loops: expected \"auto\" or an integer >= 1, found \"0\"",
            "config.yaml:1:37: server.max_connections: expected an integer >= 1, found \"-1\"",
            "config.yaml:1:56: server.drain_timeout: expected a duration like 250ms, 10s, 2m or 1h, found \"1w\"",
            "config.yaml:1:74: server.idle_release: expected a duration like 250ms, 10s, 2m or 1h, found \"soon\"",
            "config.yaml:2:22: limits.max_buffer: expected a size of at least 1 bytes, found \"0\"",
            "config.yaml:2:49: limits.max_keepalive_requests: expected an integer >= 1, found \"0\"",
            "config.yaml:3:16: cgi.timeout: expected a duration like 250ms, 10s, 2m or 1h, found \"5x\"",
            "config.yaml:3:35: cgi.max_processes: expected an integer >= 1, found \"none\"",
            "config.yaml:4:15: log.access: expected a non-empty string",
            "config.yaml:4:27: log.format: expected one of combined, json; found \"xml\"",
            "config.yaml:4:39: log.level: expected one of debug, info, warning, error; found \"loud\"",
        ]),

        Case(name: "null values", yaml: """
        server:
          backlog:
        hosts:
          - names: [a.test]
            routes:
              - path: /
                redirect: ~
        """, errors: [
            "config.yaml:2:11: server.backlog: expected an integer >= 1, found nothing",
            "config.yaml:7:19: hosts[0].routes[0].redirect: expected a string, found nothing",
        ]),
    ]

    @Test(arguments: cases)
    func reportsExactly(_ c: Case) throws {
        let f = try Fixture()
        #expect(f.errors(c.yaml, env: c.env) == c.errors)
    }

    @Test func allErrorsAtOnceInDocumentOrder() throws {
        let f = try Fixture()
        let errors = f.errors("""
        server:
          listen: nowhere
        limits:
          max_body: big
        hosts:
          - names: [a.test]
            routes:
              - {path: /a, static: missing-dir}
              - {path: /a, respond: "${UNSET}"}
          - names: [a.test]
            routes:
              - {path: /b, redirect: /c, status: 200}
        """)
        #expect(errors == [
            "config.yaml:2:11: server.listen: expected \"host:port\" with a numeric host, \"[v6]:port\" or \":port\" (port 0-65535), found \"nowhere\"",
            "config.yaml:4:13: limits.max_body: expected a size like 512, 16KiB, 10MiB or 1GB, found \"big\"",
            "config.yaml:8:28: hosts[0].routes[0].static: static root \"$DIR/missing-dir\" does not exist",
            "config.yaml:9:16: hosts[0].routes[1].path: route path \"/a\" is already used by hosts[0].routes[0]",
            "config.yaml:9:29: hosts[0].routes[1].respond: environment variable \"UNSET\" is not set (write ${UNSET:-default} to give a default)",
            "config.yaml:10:13: hosts[1].names[0]: host name \"a.test\" is already used by hosts[0].names[0]",
            "config.yaml:12:42: hosts[1].routes[0].status: expected a redirect status 301, 302, 303, 307 or 308, found \"200\"",
        ])
    }

    @Test func errorsDescriptionIsOnePerLine() throws {
        let f = try Fixture()
        do throws(ManifestErrors) {
            _ = try f.load("hosts: []\nbogus: 1")
            Issue.record("loaded")
        } catch {
            #expect(error.description == """
            config.yaml:1:8: hosts: expected at least one host
            config.yaml:2:1: unknown key "bogus"; expected one of server, limits, cgi, log, tls, compress, services, hosts
            """)
            #expect(error.errors[0] == ManifestError(file: "config.yaml", line: 1, column: 8, keyPath: "hosts",
                                                      message: "expected at least one host"))
        }
    }
}

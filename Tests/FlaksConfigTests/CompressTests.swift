import Testing
@testable import FlaksConfig

/// `compress:` (top level) and the route-level `compress: true|false`.
@Suite struct CompressTests {
    @Test func defaultsWhenAbsent() throws {
        let f = try Fixture()
        let config = try f.load(minimalHosts)
        #expect(config.compress == CompressSettings())
        #expect(config.compress.encodings == [.zstd, .br, .gzip])
        #expect(config.compress.minSize == 1024)
        #expect(config.compress.types == ["text/*", "application/json", "application/javascript", "application/xml",
                                          "image/svg+xml"])
        #expect(config.compress.isEnabled)
        #expect(config.hosts[0].routes[0].compress)
        // An empty section keeps every default.
        #expect(try f.load("compress: {}\n" + minimalHosts).compress == CompressSettings())
    }

    @Test func everyKey() throws {
        let f = try Fixture()
        let config = try f.load("""
        compress:
          encodings: [gzip, br]
          min_size: 0
          types: [TEXT/*, application/JSON, "*/*", application/vnd.api+json]
        \(minimalHosts)
        """)
        #expect(config.compress == CompressSettings(encodings: [.gzip, .br], minSize: 0,
                                                    types: ["text/*", "application/json", "*/*", "application/vnd.api+json"]))
    }

    @Test func encodingsOffAndSingle() throws {
        let f = try Fixture()
        let off = try f.load("compress: {encodings: []}\n" + minimalHosts).compress
        #expect(off.encodings.isEmpty && !off.isEnabled)
        #expect(off.minSize == 1024 && off.types == CompressSettings.defaultTypes)
        #expect(try f.load("compress: {encodings: zstd, types: text/html, min_size: 16KiB}\n" + minimalHosts).compress
                == CompressSettings(encodings: [.zstd], minSize: 16384, types: ["text/html"]))
    }

    @Test func routeSwitchOnEveryKind() throws {
        let f = try Fixture()
        let config = try f.load("""
        hosts:
          - names: ["*"]
            routes:
              - {path: /s/, static: sites, compress: false}
              - {path: /c/, cgi: sites/example/cgi-bin, compress: false}
              - {path: /r, redirect: /x, compress: false}
              - {path: /t, respond: ok, compress: false}
              - {path: /h, handler: health, compress: false}
              - {path: /on, respond: ok, compress: true}
              - {path: /default, respond: ok}
        """)
        #expect(config.hosts[0].routes.map(\.compress) == [false, false, false, false, false, true, true])
        #expect(config.hosts[0].routes[3] == Route(path: "/t", kind: .respond(RespondRoute(body: "ok")),
                                                   compress: false, origin: "config.yaml:7:9"))
    }

    @Test func errors() throws {
        let f = try Fixture()
        #expect(f.errors("""
        compress:
          encodings: [deflate, gzip, gzip, identity, ~]
          min_size: -1
          types: [text, "*/json", "text/ht*", "text/html; charset=utf-8", a/b/c, t*/x, "", "/"]
        \(minimalHosts)
        """) == [
            "config.yaml:2:15: compress.encodings[0]: expected one of zstd, br, gzip; found \"deflate\"",
            "config.yaml:2:30: compress.encodings[2]: encoding \"gzip\" is listed twice",
            "config.yaml:2:36: compress.encodings[3]: expected one of zstd, br, gzip; found \"identity\"",
            "config.yaml:2:46: compress.encodings[4]: expected one of zstd, br, gzip, found nothing",
            "config.yaml:3:13: compress.min_size: expected a size like 512, 16KiB, 10MiB or 1GB, found \"-1\"",
            "config.yaml:4:11: compress.types[0]: expected a media type like \"text/html\", \"text/*\" or \"*/*\", found \"text\"",
            "config.yaml:4:17: compress.types[1]: expected a media type like \"text/html\", \"text/*\" or \"*/*\", found \"*/json\"",
            "config.yaml:4:27: compress.types[2]: expected a media type like \"text/html\", \"text/*\" or \"*/*\", found \"text/ht*\"",
            "config.yaml:4:39: compress.types[3]: expected a media type like \"text/html\", \"text/*\" or \"*/*\", found \"text/html; charset=utf-8\"",
            "config.yaml:4:67: compress.types[4]: expected a media type like \"text/html\", \"text/*\" or \"*/*\", found \"a/b/c\"",
            "config.yaml:4:74: compress.types[5]: expected a media type like \"text/html\", \"text/*\" or \"*/*\", found \"t*/x\"",
            "config.yaml:4:80: compress.types[6]: expected a media type like \"text/html\", \"text/*\" or \"*/*\", found \"\"",
            "config.yaml:4:84: compress.types[7]: expected a media type like \"text/html\", \"text/*\" or \"*/*\", found \"/\"",
        ])
    }

    @Test func wrongShapes() throws {
        let f = try Fixture()
        #expect(f.errors("compress: yes\n" + minimalHosts) == [
            "config.yaml:1:11: compress: expected a mapping, found \"yes\"",
        ])
        #expect(f.errors("compress: {encodings: {gzip: 1}, min_size: [1], types: []}\n" + minimalHosts) == [
            "config.yaml:1:23: compress.encodings: expected a list, found a mapping",
            "config.yaml:1:44: compress.min_size: expected a size like 512, 16KiB, 10MiB or 1GB, found a list",
            "config.yaml:1:56: compress.types: expected at least one media type (encodings: [] turns compression off)",
        ])
        #expect(f.errors("""
        hosts:
          - names: ["*"]
            routes:
              - {path: /a, respond: ok, compress: no}
              - {path: /b, respond: ok, compress: [false]}
        """) == [
            "config.yaml:4:43: hosts[0].routes[0].compress: expected true or false, found \"no\"",
            "config.yaml:5:43: hosts[0].routes[1].compress: expected true or false, found a list",
        ])
    }

    @Test func unknownKeys() throws {
        let f = try Fixture()
        #expect(f.errors("""
        compress: {encoding: [gzip], minsize: 1, typs: [text/*], level: 9}
        hosts:
          - names: ["*"]
            routes:
              - {path: /a, respond: ok, compres: false}
        """) == [
            "config.yaml:1:12: compress: unknown key \"encoding\"; did you mean \"encodings\"?",
            "config.yaml:1:30: compress: unknown key \"minsize\"; did you mean \"min_size\"?",
            "config.yaml:1:42: compress: unknown key \"typs\"; did you mean \"types\"?",
            "config.yaml:1:58: compress: unknown key \"level\"; expected one of encodings, min_size, types",
            "config.yaml:5:33: hosts[0].routes[0]: unknown key \"compres\"; did you mean \"compress\"?",
        ])
    }
}

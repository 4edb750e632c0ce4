#if canImport(Glibc)
import FlaksTestSupport
import Glibc
#endif
import FlaksConfig
import FlaksServer
import Foundation
import Testing

/// Where Debian's `dokuwiki` package puts the code.
enum DokuWikiInstall {
    static let path = "/usr/share/dokuwiki"
}

/// A real PHP application end to end: DokuWiki (Debian's `dokuwiki` package) served by Flaks through
/// php-fpm. The test works on a private copy of the installed wiki (code, conf/ and data/ in a temp
/// dir, the classic DokuWiki layout), so the system's copy is never touched. The start page renders;
/// a page is created through the edit form (with its security token and the session cookie) and read
/// back; conf/ and data/ are not reachable over HTTP (the manifest shuts them with `respond: 403`,
/// as DokuWiki's .htaccess files do for Apache). Skipped when php-fpm or DokuWiki is not installed.
@Suite("DokuWiki through php-fpm", .serialized,
       .enabled(if: PHPFPM.binary != nil && FileManager.default.fileExists(atPath: DokuWikiInstall.path + "/doku.php"),
                "php-fpm or DokuWiki is not installed (apt-get install php8.2-fpm dokuwiki); DokuWiki not tested"))
final class DokuWikiTests {
    static let installed = DokuWikiInstall.path
    let base: String
    var wiki: String { base + "/dokuwiki" }

    init() throws {
        var template = Array((NSTemporaryDirectory() + "flaks-dokuwiki-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        base = String(cString: p)
        // The code (symlinks to the system's plugins and templates followed), then conf/ and data/.
        try Self.run("/bin/cp", ["-rL", Self.installed, wiki])
        try FileManager.default.createDirectory(atPath: wiki + "/conf", withIntermediateDirectories: true)
        try Self.run("/bin/cp", ["-rL", "/etc/dokuwiki/.", wiki + "/conf/"])
        try Self.run("/bin/cp", ["-rL", "/var/lib/dokuwiki/data", wiki + "/data"])
        // Debian's preload points DokuWiki at /etc/dokuwiki; this one keeps it in the copy.
        try "<?php\ndefine('DOKU_CONF', '\(wiki)/conf/');\n".write(toFile: wiki + "/inc/preload.php", atomically: true, encoding: .utf8)
        try """
            <?php
            $conf['title'] = 'Flaks test wiki';
            $conf['savedir'] = '\(wiki)/data';
            $conf['useacl'] = 1;
            $conf['superuser'] = '@admin';
            $conf['userewrite'] = 2;
            $conf['lang'] = 'en';
            """.write(toFile: wiki + "/conf/local.php", atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: wiki + "/conf/local.protected.php")
        // One editor (bcrypt of "flaks-secret", cost 4); anonymous visitors may read only.
        try? FileManager.default.removeItem(atPath: wiki + "/conf/users.auth.php")
        try? FileManager.default.removeItem(atPath: wiki + "/conf/acl.auth.php")
        try "# <?php exit()?>\neditor:\(Self.editorHash):Flaks Editor:editor@wiki.test:admin,user\n"
            .write(toFile: wiki + "/conf/users.auth.php", atomically: true, encoding: .utf8)
        try "# <?php exit()?>\n*               @ALL          1\n*               @user         8\n"
            .write(toFile: wiki + "/conf/acl.auth.php", atomically: true, encoding: .utf8)
    }

    static let editorHash = "$2y$04$OutUm5k1CwAEV8IO07/Gh.WpztWyY.vO5H1LcCLyJrLTbt0Jl/Heu"

    deinit { try? FileManager.default.removeItem(atPath: base) }

    static func run(_ tool: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw PHPFPM.Failure("\(tool) \(args) exited \(p.terminationStatus)") }
    }

    func manifest(_ fpm: PHPFPM) -> ServerConfig {
        let shut = ["/wiki/data/", "/wiki/conf/", "/wiki/bin/", "/wiki/inc/", "/wiki/vendor/"].map {
            Route(path: $0, kind: .respond(RespondRoute(body: "forbidden\n", status: 403)))
        }
        return FlaksServerTests.config(shut + [
            Route(path: "/wiki/", kind: .fastcgi(FastCGIRoute(responder: .address(.unix(path: fpm.socketPath)), root: wiki,
                                                              index: ["doku.php"], frontController: "/doku.php",
                                                              timeout: .seconds(30), maxConnections: 2))),
        ])
    }

    /// A tiny browser: one keep-alive connection, a cookie jar.
    final class Browser {
        let client: TestClient
        var cookies: [String: String] = [:]
        init(port: Int) throws { client = try TestClient(port: port, timeout: 30) }

        func request(_ method: String, _ target: String, form: [(String, String)]? = nil) throws -> TestClient.Response {
            var head = "\(method) \(target) HTTP/1.1\r\nHost: wiki.test\r\n"
            if !cookies.isEmpty { head += "Cookie: " + cookies.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "; ") + "\r\n" }
            var body: [UInt8] = []
            if let form {
                body = Array(form.map { Browser.encode($0.0) + "=" + Browser.encode($0.1) }.joined(separator: "&").utf8)
                head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.count)\r\n"
            }
            try client.send(Array((head + "\r\n").utf8) + body)
            let r = try client.readResponse()
            for (name, value) in r.headers where name.lowercased() == "set-cookie" {
                let pair = value.split(separator: ";")[0]
                guard let eq = pair.firstIndex(of: "=") else { continue }
                let v = String(pair[pair.index(after: eq)...])
                if v == "deleted" || v.isEmpty { cookies[String(pair[..<eq])] = nil } else { cookies[String(pair[..<eq])] = v }
            }
            return r
        }

        static func encode(_ s: String) -> String {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
        }
    }

    /// The named inputs of the form with `id`, values HTML-unescaped.
    static func formFields(_ html: String, id: String) -> [(String, String)] {
        guard let start = html.range(of: "id=\"\(id)\""), let end = html.range(of: "</form>", range: start.upperBound..<html.endIndex)
        else { return [] }
        let form = String(html[start.upperBound..<end.lowerBound])
        var fields: [(String, String)] = []
        let input = try? NSRegularExpression(pattern: "<input[^>]*>", options: [.caseInsensitive])
        for m in input?.matches(in: form, range: NSRange(form.startIndex..., in: form)) ?? [] {
            guard let r = Range(m.range, in: form) else { continue }
            let tag = String(form[r])
            guard tag.contains("type=\"hidden\""), let name = attribute("name", tag) else { continue }
            fields.append((name, unescape(attribute("value", tag) ?? "")))
        }
        return fields
    }

    static func attribute(_ name: String, _ tag: String) -> String? {
        guard let r = tag.range(of: " \(name)=\"") else { return nil }
        guard let end = tag[r.upperBound...].firstIndex(of: "\"") else { return nil }
        return String(tag[r.upperBound..<end])
    }

    static func unescape(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&#039;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    @Test(.timeLimit(.minutes(3)))
    func startPageEditAndReadBackAndPrivateDirectoriesShut() async throws {
        let fpm = try PHPFPM(children: 2, systemIni: true)
        defer { fpm.stop() }
        try await withTestServer(manifest(fpm)) { (_: Server, port: Int) async throws in
            let b = try Browser(port: port)
            // The start page renders (index: doku.php).
            let start = try b.request("GET", "/wiki/")
            #expect(start.status == 200, "\(start.text.prefix(500))")
            #expect(start.text.contains("Flaks test wiki"), "\(start.text.prefix(500))")
            #expect(start.text.contains("/wiki/lib/"), "asset links under the mount")
            // Its style sheet comes from php (lib/exe/css.php), a plain asset as a static file.
            let css = try b.request("GET", "/wiki/lib/exe/css.php?t=dokuwiki")
            #expect(css.status == 200 && css.header("Content-Type")?.hasPrefix("text/css") == true)
            let logo = try b.request("GET", "/wiki/lib/tpl/dokuwiki/images/logo.png")
            #expect(logo.status == 200 && logo.header("Content-Type") == "image/png")

            // Anonymous visitors may read, not edit: log in through the login form first.
            let login = try b.request("GET", "/wiki/doku.php?id=start&do=login")
            var credentials = Self.formFields(login.text, id: "dw__login")
            #expect(credentials.contains { $0.0 == "do" && $0.1 == "login" }, "\(login.text.prefix(300))")
            credentials += [("u", "editor"), ("p", "flaks-secret")]
            let loggedIn = try b.request("POST", "/wiki/doku.php?id=start&do=login", form: credentials)
            #expect([200, 302, 303].contains(loggedIn.status))
            let home = try b.request("GET", "/wiki/doku.php?id=start")
            #expect(home.text.contains("Flaks Editor"), "logged in (the name is shown)")

            // The edit form, with its security token (tied to the session and the user).
            let page = "flaks:hello"
            let edit = try b.request("GET", "/wiki/doku.php?id=\(page)&do=edit")
            #expect(edit.status == 200)
            var fields = Self.formFields(edit.text, id: "dw__editform")
            #expect(fields.contains { $0.0 == "sectok" && !$0.1.isEmpty }, "\(edit.text.prefix(800))")
            #expect(!b.cookies.isEmpty, "DokuWiki's session cookie")
            let text = "====== Hello ======\n\nWritten through **Flaks** and php-fpm. 12345-marker\n"
            fields += [("wikitext", text), ("summary", "created by the Flaks test"), ("do[save]", "Save")]
            let saved = try b.request("POST", "/wiki/doku.php?id=\(page)", form: fields)
            #expect([200, 302, 303].contains(saved.status), "\(saved.status) \(saved.text.prefix(500))")
            if let location = saved.header("Location") { #expect(location.contains("hello")) }

            // Read back: rendered, and stored in the private data directory.
            let shown = try b.request("GET", "/wiki/doku.php?id=\(page)")
            #expect(shown.status == 200 && shown.text.contains("<strong>Flaks</strong>") && shown.text.contains("12345-marker"))
            let stored = try String(contentsOfFile: wiki + "/data/pages/flaks/hello.txt", encoding: .utf8)
            #expect(stored.contains("12345-marker"))
            // The same page by PATH_INFO (userewrite 2: doku.php/flaks:hello).
            let byPath = try b.request("GET", "/wiki/doku.php/flaks:hello")
            #expect(byPath.status == 200 && byPath.text.contains("12345-marker"))
            // Raw export (a text/plain answer from php).
            let raw = try b.request("GET", "/wiki/doku.php?id=\(page)&do=export_raw")
            #expect(raw.text.contains("**Flaks**"))

            // conf/ and data/ (and the code directories) are not reachable over HTTP.
            for path in ["/wiki/data/pages/flaks/hello.txt", "/wiki/data/", "/wiki/conf/local.php", "/wiki/conf/users.auth.php",
                         "/wiki/conf/dokuwiki.php", "/wiki/inc/init.php", "/wiki/bin/indexer.php", "/wiki/vendor/autoload.php",
                         "/wiki/DATA/pages/flaks/hello.txt", "/wiki/./data/pages/flaks/hello.txt", "/wiki/lib/../data/pages/flaks/hello.txt",
                         "/wiki/%64ata/pages/flaks/hello.txt"] {
                let r = try TestClient.get(port: port, path)
                #expect(!r.text.contains("12345-marker") && !r.text.contains("$conf"), "\(path): \(r.status)")
                #expect(r.status == 403 || r.status == 404 || r.text.contains("Flaks test wiki"), "\(path): \(r.status)")
            }
            #expect(try TestClient.get(port: port, "/wiki/data/pages/flaks/hello.txt").status == 403)
            #expect(try TestClient.get(port: port, "/wiki/conf/local.php").status == 403)
        }
    }
}

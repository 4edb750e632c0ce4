import Flaks
import Foundation
import Testing

@Suite struct ViewRoutingTests {
    @Test func convertersAndPrecedence() async throws {
        let app = App()
        app.get("/u/me") { _ in .text("literal") }
        app.get("/u/<int:id>") { req in .text("int \(try req.parameter("id", as: Int.self))") }
        app.get("/u/<float:x>") { req in .text("float \(try req.parameter("x", as: Double.self))") }
        app.get("/u/<uuid:u>") { req in .text("uuid \(try req.parameter("u", as: UUID.self).uuidString)") }
        app.get("/u/<name>") { req in .text("string \(req.parameter("name") ?? "")") }
        app.get("/files/<path:rest>") { req in .text("path \(req.parameter("rest") ?? "")") }
        app.get("/") { _ in .text("root") }

        #expect(await call(app, "/u/me").text == "literal")
        #expect(await call(app, "/u/42").text == "int 42")
        #expect(await call(app, "/u/4.5").text == "float 4.5")
        #expect(await call(app, "/u/123e4567-e89b-12d3-a456-426614174000").text == "uuid 123E4567-E89B-12D3-A456-426614174000")
        #expect(await call(app, "/u/bob").text == "string bob")
        #expect(await call(app, "/u/-3").text == "string -3")
        #expect(await call(app, "/files/a/b/c.txt").text == "path a/b/c.txt")
        #expect(await call(app, "/").text == "root")
        #expect(await call(app, "/nothing").status == .notFound)
        #expect(await call(app, "/u/me/more").status == .notFound)
        // Out of Int range: the converter matched, the typed accessor says 404.
        #expect(await call(app, "/u/99999999999999999999999").status == .notFound)
    }

    @Test func trailingSlashRules() async {
        let app = App()
        app.get("/todos/") { _ in .text("list") }
        app.get("/about") { _ in .text("about") }
        #expect(await call(app, "/todos/").text == "list")
        let r = await call(app, "/todos?x=1")
        #expect(r.status == .permanentRedirect)
        #expect(r.headers["Location"] == "/todos/?x=1")
        #expect(await call(app, "/about/").status == .notFound)
    }

    /// The strict-slash redirect re-encodes the decoded path: a backslash, TAB, "?" or "#" in it
    /// cannot turn the Location into another host, a query or a fragment.
    @Test func trailingSlashRedirectIsEncodedAndStaysOnTheHost() async {
        let app = App()
        app.get("/<name>/") { _ in .text("dir") }
        app.get("/d/<a>/<b>/") { _ in .text("two") }
        func location(_ target: String) async -> String? {
            let r = await call(app, target)
            #expect(r.status == .permanentRedirect, "\(target)")
            return r.headers["Location"]
        }
        #expect(await location("/\\evil.example") == "/%5Cevil.example/")
        #expect(await location("/%09evil.example?x=%20") == "/%09evil.example/?x=%20")
        #expect(await location("/a%3Fb%23c") == "/a%3Fb%23c/")
        #expect(await location("/caf%C3%A9") == "/caf%C3%A9/")
        #expect(await location("/d/\\/x") == "/d/%5C/x/")
        #expect(await location("/d/a%25b/%20") == "/d/a%25b/%20/")
    }

    @Test func methodsAllowHeadOptions() async {
        let app = App()
        app.get("/items", endpoint: "items") { _ in .text("list") }
        app.post("/items", endpoint: "items") { _ in .status(.created) }
        app.route("/multi", methods: [.PUT, .DELETE]) { req in .text(req.method.rawValue) }

        #expect(await call(app, .POST, "/items").status == .created)
        let head = await call(app, .HEAD, "/items")
        #expect(head.status == .ok)
        let options = await call(app, .OPTIONS, "/items")
        #expect(options.status == .ok)
        #expect(options.headers["Allow"] == "GET, HEAD, POST, OPTIONS")
        let wrong = await call(app, .DELETE, "/items")
        #expect(wrong.status == .methodNotAllowed)
        #expect(wrong.headers["Allow"] == "GET, HEAD, POST, OPTIONS")
        #expect(await call(app, .DELETE, "/multi").text == "DELETE")
        #expect(await call(app, .GET, "/multi").headers["Allow"] == "PUT, DELETE, OPTIONS")
    }

    @Test func asyncAndBlockingViewsPickTheirOutcome() throws {
        let app = App()
        app.get("/sync") { _ in .text("s") }
        app.get("/async") { _ async throws in
            try await Task.sleep(for: .milliseconds(1))
            return .text("a")
        }
        let h = try #require(app.registry.handler(named: "app"))
        func outcome(_ p: String) -> String {
            let req = Request(head: RequestHead(method: .GET, target: p, version: .http1_1, headers: [:]), path: p,
                              routePath: "/", remainder: String(p.dropFirst()))
            switch h.handle(req) {
            case .blocking: return "blocking"
            case .async: return "async"
            case .response: return "response"
            case .cgi: return "cgi"
            case .fastcgi: return "fastcgi"
            }
        }
        #expect(outcome("/sync") == "blocking")
        #expect(outcome("/async") == "async")
        #expect(outcome("/missing") == "response")
    }

    @Test func dispatchesTheRemainderOfAPrefixMount() async throws {
        let app = App()
        app.get("/todos/<int:id>", endpoint: "todo") { req in .text("\(req.parameter("id") ?? "") at \(req.mountRoot)") }
        let h = try #require(app.registry.handler(named: "app"))
        let r = await call(h, "/api/v1/todos/7", mount: "/api/v1/")
        #expect(r.text == "7 at /api/v1")
    }
}

@Suite struct ViewRequestBodyTests {
    struct Todo: Codable, Equatable { var title: String; var done: Bool }

    @Test func queryIsDecodedWithRepeatedKeys() async {
        let app = App()
        app.get("/q") { req in
            let q = req.query
            return .text("\(q["name"] ?? "-")|\(q.all("tag").joined(separator: ","))|\(try q.get("n", as: Int.self) ?? -1)|\(q["empty"] ?? "nil")")
        }
        #expect(await call(app, "/q?name=J%C3%BCrgen+M&tag=a&tag=b%26c&n=5&empty").text == "Jürgen M|a,b&c|5|")
        #expect(await call(app, "/q?n=five").status == .badRequest)
        #expect(await call(app, "/q?bad=%zz").text == "-||-1|nil")
    }

    @Test func urlencodedForm() async {
        let app = App()
        app.post("/f") { req in
            let f = try req.form()
            return .text("\(f["a"] ?? "")|\(f.fields.all("b"))|\(f.files.count)")
        }
        let r = await call(app, .POST, "/f", headers: ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"],
                           body: Array("a=1+2%21&b=x&b=y".utf8))
        #expect(r.text == "1 2!|[\"x\", \"y\"]|0")
        let wrongType = await call(app, .POST, "/f", headers: ["Content-Type": "text/plain"], body: Array("a=1".utf8))
        #expect(wrongType.status.code == 415)
    }

    @Test func tooManyFieldsIs413() async {
        let app = App(formLimits: FormLimits(maxFields: 3))
        app.post("/f") { req in .text("\(try req.form().fields.count)") }
        let r = await call(app, .POST, "/f", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                           body: Array("a=1&b=2&c=3&d=4".utf8))
        #expect(r.status == .contentTooLarge)
    }

    static let multipartBody = Array("""
    preamble is ignored\r
    --XyZ\r
    Content-Disposition: form-data; name="title"\r
    \r
    Hello; "world"\r
    --XyZ\r
    Content-Disposition: form-data; name="upload"; filename="a \\"b\\".txt"\r
    Content-Type: text/plain\r
    \r
    line1\r
    x--XyZ (not at a line start)\r
    line3\r
    --XyZ\r
    Content-Disposition: form-data; name="empty"\r
    \r
    \r
    --XyZ--\r
    epilogue
    """.utf8)

    @Test func multipartWithAFile() async throws {
        let form = try MultipartTestAccess.parse(Self.multipartBody, contentType: "multipart/form-data; boundary=\"XyZ\"")
        #expect(form["title"] == "Hello; \"world\"")
        #expect(form["empty"] == "")
        let file = try #require(form.file("upload"))
        #expect(file.filename == "a \"b\".txt")
        #expect(file.contentType == "text/plain")
        #expect(String(decoding: file.bytes, as: UTF8.self) == "line1\r\nx--XyZ (not at a line start)\r\nline3")
    }

    @Test(arguments: [
        ("no boundary in body", "nothing here"),
        ("missing close", "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue"),
        ("no name", "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--"),
        ("not form-data", "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--XyZ--"),
        ("unterminated headers", "--XyZ\r\nContent-Disposition: form-data; name=\"a\""),
    ])
    func malformedMultipartIs400(name: String, body: String) {
        #expect(throws: HTTPError.self, "\(name)") {
            try MultipartTestAccess.parse(Array(body.utf8), contentType: "multipart/form-data; boundary=XyZ")
        }
    }

    @Test func formLimitsAtTheirEdges() async throws {
        let app = App(formLimits: FormLimits(maxFields: 3))
        app.post("/f") { req in .text("\(try req.form().fields.count)") }
        let form: HeaderFields = ["Content-Type": "application/x-www-form-urlencoded"]
        let atLimit = await call(app, .POST, "/f", headers: form, body: Array("a=1&b=2&c=3".utf8))
        #expect(atLimit.status == .ok)
        let over = await call(app, .POST, "/f", headers: form, body: Array("a=1&b=2&c=3&d=4".utf8))
        #expect(over.status == .contentTooLarge)

        func parts(_ n: Int) -> [UInt8] {
            Array(((0..<n).map { "--b\r\nContent-Disposition: form-data; name=\"f\($0)\"\r\n\r\nv\r\n" }.joined() + "--b--").utf8)
        }
        let type = "multipart/form-data; boundary=b"
        #expect(try MultipartTestAccess.parse(parts(3), contentType: type, limits: FormLimits(maxParts: 3)).fields.count == 3)
        #expect(throws: HTTPError.self) { try MultipartTestAccess.parse(parts(4), contentType: type, limits: FormLimits(maxParts: 3)) }
    }

    @Test func multipartBounds() {
        let many = (0..<5).map { "--b\r\nContent-Disposition: form-data; name=\"f\($0)\"\r\n\r\nv\r\n" }.joined() + "--b--"
        #expect(throws: HTTPError(.contentTooLarge, "more than 3 multipart parts")) {
            try MultipartTestAccess.parse(Array(many.utf8), contentType: "multipart/form-data; boundary=b",
                                          limits: FormLimits(maxParts: 3))
        }
        let bigHeader = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: " + String(repeating: "x", count: 200) + "\r\n\r\nv\r\n--b--"
        #expect(throws: HTTPError.self) {
            try MultipartTestAccess.parse(Array(bigHeader.utf8), contentType: "multipart/form-data; boundary=b",
                                          limits: FormLimits(maxPartHeaderBytes: 64))
        }
    }

    @Test func multipartThroughAView() async {
        let app = App()
        app.post("/up") { req in
            let f = try req.form()
            guard let file = f.file("upload") else { throw HTTPError(.badRequest, "no file") }
            return .text("\(f["title"] ?? "")|\(file.filename)|\(file.bytes.count)")
        }
        let r = await call(app, .POST, "/up", headers: ["Content-Type": "multipart/form-data; boundary=XyZ"], body: Self.multipartBody)
        #expect(r.text == "Hello; \"world\"|a \"b\".txt|42")
        let noBoundary = await call(app, .POST, "/up", headers: ["Content-Type": "multipart/form-data"], body: Self.multipartBody)
        #expect(noBoundary.status == .badRequest)
    }

    @Test func jsonInAndOut() async throws {
        let app = App()
        app.post("/todos") { req in
            var t = try req.json(Todo.self)
            t.done = true
            return try .json(t, status: .created)
        }
        let r = await call(app, .POST, "/todos", headers: ["Content-Type": "application/json"], body: Array(#"{"title":"x","done":false}"#.utf8))
        #expect(r.status == .created)
        #expect(r.headers["Content-Type"] == "application/json")
        #expect(try JSONDecoder().decode(Todo.self, from: Data(Array(r.text.utf8))) == Todo(title: "x", done: true))
        #expect(await call(app, .POST, "/todos", headers: ["Content-Type": "application/json"], body: Array("{".utf8)).status == .badRequest)
        #expect(await call(app, .POST, "/todos", headers: ["Content-Type": "text/plain"], body: Array("{}".utf8)).status.code == 415)
    }

    @Test func responseKinds() async {
        let app = App()
        app.get("/text") { _ in .text("t") }
        app.get("/html") { _ in .html("<p>h</p>") }
        app.get("/bytes") { _ in .bytes([0, 1, 2], contentType: "application/x-test") }
        app.get("/status") { _ in .status(.noContent) }
        app.get("/redirect") { _ in .redirect(to: "/elsewhere", status: .seeOther) }
        #expect(await call(app, "/text").headers["Content-Type"] == "text/plain; charset=utf-8")
        #expect(await call(app, "/html").headers["Content-Type"] == "text/html; charset=utf-8")
        let b = await call(app, "/bytes")
        #expect(b.headers["Content-Type"] == "application/x-test")
        if case .bytes(let bytes) = b.body { #expect(bytes == [0, 1, 2]) } else { Issue.record("not bytes") }
        #expect(await call(app, "/status").status == .noContent)
        let r = await call(app, "/redirect")
        #expect(r.status == .seeOther)
        #expect(r.headers["Location"] == "/elsewhere")
    }
}

/// Reaches the internal parser through the public API: a view-less form read.
enum MultipartTestAccess {
    static func parse(_ body: [UInt8], contentType: String, limits: FormLimits = .default) throws(HTTPError) -> Form {
        let head = RequestHead(method: .POST, target: "/", version: .http1_1, headers: ["Content-Type": contentType])
        return try ViewRequest(Request(head: head, path: "/", body: body), formLimits: limits).form()
    }
}

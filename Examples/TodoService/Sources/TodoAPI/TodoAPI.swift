import Flaks
import Synchronization

/// A todo item as the API sends it.
public struct Todo: Codable, Sendable, Equatable {
    public var id: Int
    public var title: String
    public var done: Bool
    public init(id: Int, title: String, done: Bool) { self.id = id; self.title = title; self.done = done }
}

/// The body of POST /todos/ and PATCH /todos/<id>: every field optional for PATCH.
public struct TodoInput: Codable, Sendable {
    public var title: String?
    public var done: Bool?
    public init(title: String? = nil, done: Bool? = nil) { self.title = title; self.done = done }
}

/// The JSON body of every error.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public init(error: String) { self.error = error }
}

/// The todos, in memory, behind a lock (views run on several worker threads and tasks at once).
public final class TodoStore: Sendable {
    private let state = Mutex((next: 1, items: [Int: Todo]()))
    public init() {}

    public func all(done: Bool? = nil) -> [Todo] {
        state.withLock { s in s.items.values.filter { done == nil || $0.done == done }.sorted { $0.id < $1.id } }
    }
    public func get(_ id: Int) -> Todo? { state.withLock { $0.items[id] } }
    public func add(title: String, done: Bool) -> Todo {
        state.withLock { s in
            let t = Todo(id: s.next, title: title, done: done)
            s.items[t.id] = t
            s.next += 1
            return t
        }
    }
    public func update(_ id: Int, with input: TodoInput) -> Todo? {
        state.withLock { s in
            guard var t = s.items[id] else { return nil }
            if let title = input.title { t.title = title }
            if let done = input.done { t.done = done }
            s.items[id] = t
            return t
        }
    }
    public func remove(_ id: Int) -> Bool { state.withLock { $0.items.removeValue(forKey: id) != nil } }
}

/// The todo API. Mount it with `handler: app` at a prefix (`/api/`); its routes:
///
/// - `GET  todos/` (`?done=true|false`): the list; `POST todos/`: create (201 + Location)
/// - `GET|PATCH|DELETE todos/<int:id>`: one item (PATCH is an async view, the rest blocking)
public func makeApp(store: TodoStore = TodoStore()) -> App {
    let app = App()
    let todos = Blueprint("todos", urlPrefix: "/todos")

    todos.get("/", endpoint: "list") { req in
        try .json(store.all(done: try req.query.get("done", as: Bool.self)))
    }
    todos.post("/", endpoint: "create") { req in
        let input = try req.json(TodoInput.self)
        guard let title = input.title, !title.isEmpty, title.count <= 200 else {
            throw HTTPError(.badRequest, "title: 1 to 200 characters")
        }
        let todo = store.add(title: title, done: input.done ?? false)
        return try Response.json(todo, status: .created).header("Location", try req.url(for: "todos.item", ["id": todo.id]))
    }
    todos.get("/<int:id>", endpoint: "item") { req in
        guard let todo = store.get(try req.parameter("id", as: Int.self)) else { throw HTTPError(.notFound, "no such todo") }
        return try .json(todo)
    }
    todos.patch("/<int:id>", endpoint: "item") { req async throws in
        let input = try req.json(TodoInput.self)
        guard let todo = store.update(try req.parameter("id", as: Int.self), with: input) else {
            throw HTTPError(.notFound, "no such todo")
        }
        return try .json(todo)
    }
    todos.delete("/<int:id>", endpoint: "item") { req in
        guard store.remove(try req.parameter("id", as: Int.self)) else { throw HTTPError(.notFound, "no such todo") }
        return .status(.noContent)
    }
    app.register(todos)

    // Every error as JSON: thrown HTTPErrors, and the router's own 404 and 405.
    app.errorHandler(for: HTTPError.self) { _, e in try .json(ErrorBody(error: e.message ?? e.status.reason), status: e.status) }
    app.errorHandler(.notFound) { _, _ in try .json(ErrorBody(error: "not found"), status: .notFound) }
    app.errorHandler(.methodNotAllowed) { _, _ in try .json(ErrorBody(error: "method not allowed"), status: .methodNotAllowed) }
    app.errorHandler(.internalServerError) { _, _ in try .json(ErrorBody(error: "internal error"), status: .internalServerError) }
    app.afterRequest { _, r in r.header("Cache-Control", "no-store") }
    return app
}

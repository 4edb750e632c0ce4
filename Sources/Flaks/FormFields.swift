/// Name/value pairs from a query string or a form body, in order, repeated names kept (like
/// werkzeug's MultiDict): `fields["tag"]` is the first value, `fields.all("tag")` every one.
public struct FormFields: Sendable, Equatable, Sequence {
    /// The pairs in the order they arrived, percent-decoded.
    public private(set) var pairs: [(name: String, value: String)]

    public init(_ pairs: [(name: String, value: String)] = []) { self.pairs = pairs }

    /// Parses `a=1&b=2&a=3` (application/x-www-form-urlencoded: `+` is a space, `%XX` decoded).
    /// Empty pieces are skipped; a piece without "=" has an empty value. At most `maxFields` pairs
    /// are read; more throws 413 (a cheap guard against hash-flooding and huge bodies of tiny fields).
    public init(urlEncoded s: some StringProtocol, maxFields: Int = FormLimits.default.maxFields) throws(HTTPError) {
        var pairs: [(name: String, value: String)] = []
        for piece in s.split(separator: "&", omittingEmptySubsequences: true) {
            guard pairs.count < maxFields else { throw HTTPError(.contentTooLarge, "more than \(maxFields) form fields") }
            if let eq = piece.firstIndex(of: "=") {
                pairs.append((PercentCoding.decode(piece[..<eq]), PercentCoding.decode(piece[piece.index(after: eq)...])))
            } else {
                pairs.append((PercentCoding.decode(piece), ""))
            }
        }
        self.pairs = pairs
    }

    /// The first value for `name`, or nil.
    public subscript(name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// Every value for `name`, in order.
    public func all(_ name: String) -> [String] { pairs.filter { $0.name == name }.map(\.value) }

    /// The first value for `name` converted to `T`; nil when absent, 400 when it does not convert.
    public func get<T: ParameterValue>(_ name: String, as type: T.Type = T.self) throws(HTTPError) -> T? {
        guard let raw = self[name] else { return nil }
        guard let v = T(parameter: raw) else { throw HTTPError(.badRequest, "\(name): \"\(raw)\" is not a valid \(T.self)") }
        return v
    }

    /// The distinct names, in first-seen order.
    public var names: [String] {
        var seen: Set<String> = []
        return pairs.compactMap { seen.insert($0.name).inserted ? $0.name : nil }
    }

    public var isEmpty: Bool { pairs.isEmpty }
    public var count: Int { pairs.count }
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { pairs.makeIterator() }

    /// Adds a pair at the end.
    public mutating func append(_ name: String, _ value: String) { pairs.append((name, value)) }

    public static func == (a: FormFields, b: FormFields) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

/// Bounds for form parsing, on top of the server's `limits.max_body` (which bounds the whole body).
public struct FormLimits: Sendable {
    /// Fields of a urlencoded body or query, and non-file parts of a multipart body. Default 1000.
    public var maxFields: Int
    /// Parts of a multipart body (fields and files). Default 100.
    public var maxParts: Int
    /// Bytes of one multipart part's header block. Default 16 KiB.
    public var maxPartHeaderBytes: Int

    public init(maxFields: Int = 1000, maxParts: Int = 100, maxPartHeaderBytes: Int = 16 * 1024) {
        self.maxFields = maxFields; self.maxParts = maxParts; self.maxPartHeaderBytes = maxPartHeaderBytes
    }

    public static let `default` = FormLimits()
}

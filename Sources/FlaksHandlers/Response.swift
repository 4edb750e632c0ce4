import FlaksHTTP
#if canImport(Glibc)
import Glibc
#endif

/// A response a handler produced. The server adds Date, Server, Content-Length/Transfer-Encoding
/// and Connection; handlers set everything else.
public struct Response: Sendable {
    public var status: HTTPStatus
    /// Any change to these fields drops `encodedHeaders` (they would no longer match).
    public var headers: HeaderFields {
        didSet { encodedHeaders = nil }
    }
    public var body: ResponseBody
    /// `headers` already serialized (`name: value\r\n` each, no framing fields), for handlers that
    /// answer with the same fields again and again (a cached static file): the server copies these
    /// bytes instead of walking `headers`. Whoever sets it keeps it equal to `headers`, and
    /// includes a Content-Type (the server does not look for one to add its default).
    public var encodedHeaders: [UInt8]?
    /// The file the body is (set by the static handler): what a cache of its compressed forms is
    /// keyed by, with the ETag. nil for anything else.
    public var source: SourceFile?
    /// How long (nanoseconds) the server may send this response again, byte for byte, to a plain
    /// GET for the same host and target (one with no conditional, range, encoding, credential,
    /// cookie or forwarding field) without asking the handler: set only by a handler whose answer
    /// depends on nothing else for that long (the static handler: a file within its revalidation
    /// window). nil: never. Only 200s are kept: a body of at most 16 KiB on any connection, a
    /// larger one or a file region on plain connections (docs/performance.md).
    public var reusableFor: UInt64?

    public init(status: HTTPStatus = .ok, headers: HeaderFields = HeaderFields(), body: ResponseBody = .empty,
                encodedHeaders: [UInt8]? = nil, source: SourceFile? = nil, reusableFor: UInt64? = nil) {
        self.status = status; self.headers = headers; self.body = body; self.encodedHeaders = encodedHeaders
        self.source = source; self.reusableFor = reusableFor
    }

    /// A text response with a content type.
    public static func text(_ text: String, status: HTTPStatus = .ok,
                            contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: ["Content-Type": contentType], body: .bytes(Array(text.utf8)))
    }
}

/// The identity of a file a response body comes from: device, inode, size, modification time.
public struct SourceFile: Sendable, Hashable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int
    public var mtimeNanos: Int
    public init(device: UInt64, inode: UInt64, size: Int, mtimeNanos: Int) {
        self.device = device; self.inode = inode; self.size = size; self.mtimeNanos = mtimeNanos
    }
}

/// The body of a response.
public enum ResponseBody: Sendable {
    case empty
    case bytes([UInt8])
    /// A region of an open file, sent with sendfile(2) from the loop.
    case file(FileRegion)
    /// Several parts written one after the other (multipart/byteranges): bytes and file regions.
    case parts([BodyPart])
    /// Produced while it is sent: the closure runs as a Task and writes through a `BodyWriter`
    /// (chunked on HTTP/1.1 unless the response has a Content-Length). A write throws once the
    /// client is gone; a thrown error after the head was sent closes the connection.
    case stream(@Sendable (any BodyWriter) async throws -> Void)

    /// The number of body bytes, when known up front (0 for a stream: not known).
    public var length: Int {
        switch self {
        case .empty: 0
        case .bytes(let b): b.count
        case .file(let f): f.length
        case .parts(let ps): ps.reduce(0) { $0 + $1.length }
        case .stream: 0
        }
    }
}

/// Where a streamed body (`ResponseBody.stream`) writes. `write` returns once the bytes are queued
/// on the connection and the client keeps up (it suspends while the client is slow), and throws
/// when the connection has closed. Not for concurrent use: await each write before the next.
public protocol BodyWriter: Sendable {
    func write(_ bytes: [UInt8]) async throws
}

extension BodyWriter {
    /// Writes a string as UTF-8.
    public func write(_ text: String) async throws { try await write(Array(text.utf8)) }
}

/// One piece of a multi-part body.
public enum BodyPart: Sendable {
    case bytes([UInt8])
    case file(FileRegion)
    public var length: Int {
        switch self {
        case .bytes(let b): b.count
        case .file(let f): f.length
        }
    }
}

/// A byte range of a file. Owns the descriptor (through `OpenFile`), which closes when the last user goes.
public struct FileRegion: Sendable {
    public var file: OpenFile
    public var offset: Int
    public var length: Int
    public init(file: OpenFile, offset: Int, length: Int) { self.file = file; self.offset = offset; self.length = length }
}

/// An open file descriptor that is closed when the object is released. Immutable, so Sendable.
public final class OpenFile: Sendable {
    public let fd: Int32
    public init(fd: Int32) { self.fd = fd }
    deinit { _ = close(fd) }
}

extension Response {
    /// This response with another status, keeping `headers` of the original that say how to retry
    /// or where to go (Allow, Retry-After, Location, WWW-Authenticate, Content-Range), and without the
    /// page's own validators (ETag, Last-Modified, Accept-Ranges): they describe the page file, not
    /// the error. The pre-encoded fields of a cached page are dropped with them.
    public func withStatus(_ status: HTTPStatus, keeping original: HeaderFields) -> Response {
        var r = self
        r.status = status
        r.encodedHeaders = nil
        for name in ["Allow", "Retry-After", "Location", "WWW-Authenticate", "Content-Range"] {
            if let v = original[name] { r.headers.set(name, v) }
        }
        r.headers.remove("ETag")
        r.headers.remove("Last-Modified")
        r.headers.remove("Accept-Ranges")
        return r
    }
}

/// What a static file is served as: the full `Content-Type` value and whether a precompressed
/// sibling (`.br`, `.gz`) is worth looking for.
public struct MediaType: Sendable, Hashable {
    /// The `Content-Type` field value, with `charset=utf-8` already added for text types.
    public var contentType: String
    /// True for types that compress well (text, scripts, JSON, SVG, wasm, uncompressed fonts).
    /// Only these are negotiated with Accept-Encoding, and only these carry `Vary: Accept-Encoding`.
    public var compressible: Bool

    public init(contentType: String, compressible: Bool) {
        self.contentType = contentType; self.compressible = compressible
    }

    /// The type for files whose extension is unknown (RFC 9110 §8.3: a sender that does not know the
    /// type may send application/octet-stream).
    public static let octetStream = MediaType(contentType: "application/octet-stream", compressible: false)
}

/// Maps file extensions to media types: a built-in table (the common web types, like nginx's
/// `mime.types`) merged with a route's `types:` overrides. Built once per handler; lookups are a
/// dictionary hit on a small (non-allocating) lowercase extension string.
public struct MediaTypes: Sendable {
    private let table: [String: MediaType]

    /// Extension (lowercase, no dot) -> (type without parameters, compressible).
    /// JavaScript (scripts and modules alike) is `text/javascript`, the one type RFC 9239 §6 keeps;
    /// `application/javascript` is obsolete there.
    static let builtin: [(String, String, Bool)] = [
        ("html", "text/html", true), ("htm", "text/html", true), ("shtml", "text/html", true),
        ("css", "text/css", true), ("js", "text/javascript", true), ("mjs", "text/javascript", true),
        ("cjs", "text/javascript", true),
        ("json", "application/json", true), ("map", "application/json", true), ("jsonld", "application/ld+json", true),
        ("webmanifest", "application/manifest+json", true),
        ("xml", "application/xml", true), ("rss", "application/rss+xml", true), ("atom", "application/atom+xml", true),
        ("svg", "image/svg+xml", true), ("svgz", "image/svg+xml", false),
        ("txt", "text/plain", true), ("text", "text/plain", true), ("md", "text/markdown", true),
        ("markdown", "text/markdown", true), ("csv", "text/csv", true), ("tsv", "text/tab-separated-values", true),
        ("yaml", "application/yaml", true), ("yml", "application/yaml", true), ("toml", "application/toml", true),
        ("ics", "text/calendar", true), ("vtt", "text/vtt", true),
        ("png", "image/png", false), ("jpg", "image/jpeg", false), ("jpeg", "image/jpeg", false),
        ("gif", "image/gif", false), ("webp", "image/webp", false), ("avif", "image/avif", false),
        ("ico", "image/x-icon", true), ("bmp", "image/bmp", true), ("tif", "image/tiff", false),
        ("tiff", "image/tiff", false), ("apng", "image/apng", false), ("jxl", "image/jxl", false),
        ("woff", "font/woff", false), ("woff2", "font/woff2", false), ("ttf", "font/ttf", true), ("otf", "font/otf", true),
        ("eot", "application/vnd.ms-fontobject", true),
        ("wasm", "application/wasm", true), ("pdf", "application/pdf", false),
        ("mp4", "video/mp4", false), ("m4v", "video/mp4", false), ("webm", "video/webm", false),
        ("ogv", "video/ogg", false), ("mov", "video/quicktime", false),
        ("mp3", "audio/mpeg", false), ("ogg", "audio/ogg", false), ("oga", "audio/ogg", false),
        ("opus", "audio/ogg", false), ("wav", "audio/wav", false), ("flac", "audio/flac", false),
        ("m4a", "audio/mp4", false), ("aac", "audio/aac", false),
        ("zip", "application/zip", false), ("gz", "application/gzip", false), ("tgz", "application/gzip", false),
        ("tar", "application/x-tar", true), ("bz2", "application/x-bzip2", false), ("xz", "application/x-xz", false),
        ("zst", "application/zstd", false), ("br", "application/octet-stream", false), ("7z", "application/x-7z-compressed", false),
        ("wat", "text/plain", true),
    ]

    /// True for types that are text and get `charset=utf-8`: text/*, JavaScript (also the obsolete
    /// `application/javascript` a route's `types:` may still name), JSON (and +json),
    /// XML (and +xml, which includes SVG), YAML, TOML.
    static func isText(_ type: Substring) -> Bool {
        if type.hasPrefix("text/") { return true }
        switch type {
        case "application/javascript", "application/json", "application/xml", "application/yaml", "application/toml":
            return true
        default:
            return type.hasSuffix("+json") || type.hasSuffix("+xml")
        }
    }

    /// `charset=utf-8` appended to text types that do not already carry parameters.
    static func withCharset(_ type: String) -> String {
        if type.contains(";") { return type }
        return isText(Substring(type)) ? type + "; charset=utf-8" : type
    }

    /// The built-in table plus `overrides` (extension, with or without a leading dot, -> type).
    /// An overriding text type without parameters also gets `charset=utf-8`.
    public init(overrides: [String: String] = [:]) {
        var t: [String: MediaType] = [:]
        for (ext, type, compressible) in Self.builtin {
            t[ext] = MediaType(contentType: Self.withCharset(type), compressible: compressible)
        }
        for (ext, type) in overrides {
            var key = ext.lowercased()
            if key.hasPrefix(".") { key.removeFirst() }
            let bare = type.split(separator: ";", maxSplits: 1).first.map { $0.trimmingPrefix(" ") } ?? ""
            let compressible = Self.isText(Substring(bare)) || (t[key]?.compressible ?? false)
            t[key] = MediaType(contentType: Self.withCharset(type), compressible: compressible)
        }
        table = t
    }

    /// The media type of a file name (the text after its last dot, ASCII case-insensitive).
    /// No extension, a leading-dot-only name (".bashrc") or an unknown one -> application/octet-stream.
    public func type(forFileName name: Substring) -> MediaType {
        guard let ext = Self.fileExtension(name) else { return .octetStream }
        return table[ext] ?? .octetStream
    }

    /// The lowercase extension of `name`, or nil. At most 16 bytes are considered (longer -> nil).
    static func fileExtension(_ name: Substring) -> String? {
        let u = name.utf8
        guard let dot = u.lastIndex(of: UInt8(ascii: ".")), dot != u.startIndex else { return nil }
        let ext = u[u.index(after: dot)...]
        guard !ext.isEmpty, ext.count <= 16 else { return nil }
        var needsLowering = false
        for b in ext where b >= 65 && b <= 90 { needsLowering = true; break }
        if !needsLowering { return String(Substring(ext)) }
        return String(decoding: ext.map { ($0 >= 65 && $0 <= 90) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}

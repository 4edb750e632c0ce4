/// The top-level `compress` section: on-the-fly compression of responses of every route kind
/// (config-schema.md, "Hosting services"). A route opts out with `compress: false`
/// (`Route.compress`); there is no host-level key.
///
/// The runtime turns this into `FlaksCompression.CompressionPolicy`: `encodings` map one to one
/// onto its `ContentCoding`, and every entry of `types` parses as its `MediaTypePattern` (the
/// loader checks the same shape: `type/subtype`, `type/*` or `*/*`, tokens only, no parameters).
public struct CompressSettings: Sendable, Equatable {
    /// A content coding the server can produce (RFC 9110 §8.4.1): the manifest's spelling.
    public enum Encoding: String, Sendable, Hashable, CaseIterable {
        case zstd, br, gzip
    }

    /// `encodings`: the server's preference, first = most preferred; the client's Accept-Encoding
    /// (with q-values) decides among them. Empty (`[]`) = compression off. Default `[zstd, br, gzip]`.
    public var encodings: [Encoding]
    /// `min_size`, bytes: a body known to be smaller goes out as it is. Default 1 KiB.
    public var minSize: Int
    /// `types`: media-type patterns compressed, lowercased (`text/*`, `application/json`, `*/*`).
    /// Default `defaultTypes`.
    public var types: [String]

    /// `[text/*, application/json, application/javascript, application/xml, image/svg+xml]`.
    public static let defaultTypes = ["text/*", "application/json", "application/javascript", "application/xml",
                                      "image/svg+xml"]

    public init(encodings: [Encoding] = [.zstd, .br, .gzip], minSize: Int = 1024, types: [String] = defaultTypes) {
        self.encodings = encodings; self.minSize = minSize; self.types = types
    }

    /// Whether any response may be compressed at all (`encodings` is not empty).
    public var isEnabled: Bool { !encodings.isEmpty }
}

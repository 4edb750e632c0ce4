/// A content coding Flaks can apply to a response body (RFC 9110 §8.4.1).
///
/// The raw value is the token sent in `Content-Encoding` and matched in `Accept-Encoding`
/// (registered in the IANA HTTP Content Coding Registry: `zstd` by RFC 9659, `br` by RFC 7932,
/// `gzip` by RFC 9110 §8.4.1.3). `allCases` is the default server preference, smallest output first.
public enum ContentCoding: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Zstandard (RFC 8878), as the HTTP `zstd` coding of RFC 9659 (window at most 8 MiB).
    case zstd
    /// Brotli (RFC 7932).
    case br
    /// gzip (RFC 1952): a DEFLATE stream with the gzip header and CRC-32 trailer.
    case gzip

    /// The `Content-Encoding` field value.
    public var token: String { rawValue }

    public var description: String { rawValue }

    /// What is added inside the quotes of the identity representation's entity tag to name this
    /// coding's representation: `"abc"` -> `"abc-zst"`, `"abc-br"`, `"abc-gz"`.
    ///
    /// A compressed representation is a different representation, so it needs its own tag
    /// (RFC 9110 §8.8.3: a strong tag must change when the bytes do). The suffixes are short, start
    /// with `-` (so they read as a suffix of the usual `"<ino>-<size>-<mtime>"` tags) and are distinct
    /// from each other and from a hex digit string, so stripping one can never eat part of a tag
    /// Flaks made itself. `-gz` is Apache mod_deflate's; `-br` and `-zst` follow it (the file
    /// extensions of the codings).
    public var etagSuffix: String {
        switch self {
        case .zstd: "-zst"
        case .br: "-br"
        case .gzip: "-gz"
        }
    }

    /// The file-name suffix of a precompressed sibling (`app.js.zst`, `app.js.br`, `app.js.gz`):
    /// so the static handler's precompressed-sibling lookup can use this type too.
    public var fileSuffix: String {
        switch self {
        case .zstd: ".zst"
        case .br: ".br"
        case .gzip: ".gz"
        }
    }

    /// The coding named by an `Accept-Encoding` / `Content-Encoding` token, ASCII case-insensitive
    /// (RFC 9110 §8.4.1: codings are case-insensitive); `x-gzip` is gzip (§8.4.1.3). Nil for
    /// anything else, including `identity` and `*`.
    public init?(token: some StringProtocol) {
        var lower: [UInt8] = []
        lower.reserveCapacity(8)
        for b in token.utf8 {
            guard lower.count < 8 else { return nil }
            lower.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
        }
        switch String(decoding: lower, as: UTF8.self) {
        case "zstd": self = .zstd
        case "br": self = .br
        case "gzip", "x-gzip": self = .gzip
        default: return nil
        }
    }
}

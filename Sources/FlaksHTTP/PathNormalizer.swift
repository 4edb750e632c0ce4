// TEMPORARY — replaced by the routing branch's PathNormalizer.
/// Percent-decodes and normalises a request path.
public enum PathNormalizer {
    public struct Failure: Error {}
    public static func normalize(_ raw: Substring) throws(Failure) -> String {
        guard raw.hasPrefix("/") || raw == "*" else { throw Failure() }
        if raw.contains("%") || raw.contains("/.") || raw.contains("//") { throw Failure() }
        return String(raw)
    }
}

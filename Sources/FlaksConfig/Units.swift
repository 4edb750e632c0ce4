/// Sizes and durations as written in the manifest.
///
/// Sizes: a byte count (`512`) or a number with a unit: `KiB`, `MiB`, `GiB` (powers of 1024),
/// `KB`, `MB`, `GB` (powers of 1000), `B`. Durations: a whole number with `ms`, `s`, `m`, `h` or `d`
/// (`250ms`, `10s`, `2m`, `1h`, `30d`); a bare number is refused because its unit would be a guess.
public enum Units {
    /// Bytes, or nil when `text` is not a size (or overflows).
    public static func parseSize(_ text: String) -> Int? {
        let (digits, unit) = split(text)
        guard let n = Int(digits) else { return nil }
        let factor: Int
        switch unit {
        case "", "B": factor = 1
        case "KiB": factor = 1 << 10
        case "MiB": factor = 1 << 20
        case "GiB": factor = 1 << 30
        case "KB": factor = 1_000
        case "MB": factor = 1_000_000
        case "GB": factor = 1_000_000_000
        default: return nil
        }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: factor)
        return overflow ? nil : bytes
    }

    /// The duration, or nil when `text` is not one.
    public static func parseDuration(_ text: String) -> Duration? {
        let (digits, unit) = split(text)
        guard let n = Int(digits) else { return nil }
        switch unit {
        case "ms": return .milliseconds(n)
        case "s": return .seconds(n)
        case "m": return n <= Int.max / 60 ? .seconds(n * 60) : nil
        case "h": return n <= Int.max / 3600 ? .seconds(n * 3600) : nil
        case "d": return n <= Int.max / 86_400 ? .seconds(n * 86_400) : nil
        default: return nil
        }
    }

    /// A size as the manifest would write it: `10MiB`, `1MB`, `512`.
    public static func format(size bytes: Int) -> String {
        for (unit, factor) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000),
                               ("MB", 1_000_000), ("KB", 1_000)] where bytes != 0 && bytes % factor == 0 {
            return "\(bytes / factor)\(unit)"
        }
        return "\(bytes)"
    }

    /// A duration as the manifest would write it: `30d`, `1h`, `2m`, `10s`, `250ms`.
    public static func format(duration d: Duration) -> String {
        let (seconds, attoseconds) = d.components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        for (unit, factor) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms != 0 && ms % factor == 0 {
            return "\(ms / factor)\(unit)"
        }
        return "\(ms)ms"
    }

    /// `"16KiB"` -> (`"16"`, `"KiB"`); the digits must be non-empty ASCII digits.
    private static func split(_ text: String) -> (Substring, Substring) {
        let end = text.firstIndex { !("0"..."9").contains($0) } ?? text.endIndex
        let digits = text[..<end]
        return (digits.isEmpty ? "x" : digits, text[end...])
    }
}

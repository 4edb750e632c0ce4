#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process environment as a dictionary, the default for `ManifestLoader.load(path:environment:)`.
public enum ProcessEnvironment {
    /// A snapshot of `environ` (the first value wins for a repeated name, as getenv does).
    public static func current() -> [String: String] {
        var result: [String: String] = [:]
        guard var p = environ as UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? else { return result }
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                let name = String(s[..<eq])
                if result[name] == nil { result[name] = String(s[s.index(after: eq)...]) }
            }
            p += 1
        }
        return result
    }
}

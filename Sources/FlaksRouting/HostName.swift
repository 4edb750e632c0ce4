/// Host name rules shared by the route tree and the manifest loader.
public enum HostName {
    /// `Example.COM:8080` -> `Example.COM`, `[::1]:8080` -> `::1`, `example.com.` -> `example.com`.
    /// Does not lowercase (the caller does, only when needed, to avoid allocating).
    public static func stripPort(_ h: Substring) -> Substring {
        var h = h
        if h.utf8.first == UInt8(ascii: "[") {
            let close = h.utf8.firstIndex(of: UInt8(ascii: "]")) ?? h.endIndex
            return h[h.utf8.index(after: h.startIndex)..<close]
        }
        if let colon = h.utf8.lastIndex(of: UInt8(ascii: ":")),
           !h.utf8[..<colon].contains(UInt8(ascii: ":")) {   // a bare "::1" keeps its colons
            h = h[..<colon]
        }
        if h.utf8.last == UInt8(ascii: ".") { h = h.dropLast() }
        return h
    }

    /// Validates a manifest host name and returns it lowercased, without trailing dot or brackets.
    public static func canonical(_ raw: String) throws(RouteError) -> String {
        let bad = RouteError("bad host name \"\(raw)\": expected a DNS name, an IP address, \"*.suffix\" or \"*\"")
        var name = raw.lowercased()
        if name == "*" { return name }
        if name.hasPrefix("[") {
            guard name.hasSuffix("]") else { throw bad }
            name = String(name.dropFirst().dropLast())
        }
        if name.hasSuffix(".") { name.removeLast() }
        var body = Substring(name)
        if body.hasPrefix("*.") { body = body.dropFirst(2) }
        guard !body.isEmpty,
              body.utf8.allSatisfy({ isLetter($0) || isDigit($0) || $0 == 0x2D || $0 == 0x2E || $0 == 0x3A || $0 == 0x5F }),
              !body.hasPrefix("."), !body.contains("..")
        else { throw bad }
        // A ":" only in an IPv6 literal: "example.com:8080" could never match (ports are stripped).
        if body.contains(":") {
            guard !name.hasPrefix("*."), body.utf8.filter({ $0 == 0x3A }).count >= 2,
                  body.utf8.allSatisfy({ isHexDigit($0) || $0 == 0x3A || $0 == 0x2E })
            else { throw RouteError("bad host name \"\(raw)\": a port or \":\" outside an IPv6 address cannot match (ports are ignored)") }
        }
        return name
    }
}

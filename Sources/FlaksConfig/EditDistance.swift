/// "Did you mean" for unknown keys: the closest known key by Levenshtein distance
/// (case-insensitive), if it is close enough to be a likely typo.
enum EditDistance {
    static func suggestion(for key: String, among candidates: [String]) -> String? {
        let k = Array(key.lowercased().utf8)
        var best: (String, Int)?
        for c in candidates {
            let d = distance(k, Array(c.lowercased().utf8))
            if d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        guard let (name, d) = best, d <= max(1, min(2, key.count / 3)) else { return nil }
        return name
    }

    static func distance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}

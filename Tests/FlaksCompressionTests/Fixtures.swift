import Testing
import FlaksTestSupport

/// The bodies every coding is checked with.
enum Fixture: String, CaseIterable, CustomTestStringConvertible {
    case empty
    case small
    case html100KiB
    case random1MiB

    var testDescription: String { rawValue }

    var bytes: [UInt8] {
        switch self {
        case .empty: []
        case .small: Array("Hello, world! <p>Flaks</p>\n".utf8)
        case .html100KiB: Fixture.html(count: 100 * 1024, seed: 7)
        case .random1MiB: Fixture.random1MiBBytes
        }
    }

    /// HTML-like text: tags, attributes and words from a small vocabulary, so it compresses the way
    /// a page does (about 3:1), not like a repeated string.
    static func html(count: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        let words = ["<div class=\"item\">", "</div>", "<p>", "</p>", "<a href=\"/posts/", "\">", "</a>", "lorem",
                     "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "\n", "<span>",
                     "</span>", "<li>", "</li>", "&amp;", "Flaks", "served", "compressed"]
        var out: [UInt8] = []
        out.reserveCapacity(count + 32)
        while out.count < count {
            out += words[rng.int(0...(words.count - 1))].utf8
            out.append(0x20)
            if rng.chance(0.2) { out += String(rng.int(0...99_999)).utf8 }
        }
        return Array(out[0..<count])
    }

    static let random1MiBBytes: [UInt8] = {
        var rng = SplitMix64(seed: 0x5EED)
        return rng.bytes(1 << 20)
    }()
}

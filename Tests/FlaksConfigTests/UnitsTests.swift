import Testing
@testable import FlaksConfig

@Suite struct UnitsTests {
    @Test(arguments: [
        ("0", 0), ("512", 512), ("512B", 512), ("16KiB", 16_384), ("10MiB", 10_485_760), ("1GiB", 1_073_741_824),
        ("1KB", 1_000), ("10MB", 10_000_000), ("2GB", 2_000_000_000),
    ] as [(String, Int)])
    func sizes(text: String, bytes: Int) {
        #expect(Units.parseSize(text) == bytes)
    }

    @Test(arguments: ["", "KiB", "-1", "1.5MiB", "16 KiB", "16kib", "16K", "1TB", "x", "99999999999999999999", "9999999999999GiB"])
    func badSizes(text: String) {
        #expect(Units.parseSize(text) == nil)
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("0s", .zero), ("10s", .seconds(10)), ("2m", .seconds(120)),
        ("1h", .seconds(3600)), ("30d", .seconds(30 * 86_400)), ("1d", .seconds(86_400)),
    ])
    func durations(text: String, duration: Duration) {
        #expect(Units.parseDuration(text) == duration)
    }

    @Test(arguments: ["", "10", "1.5s", "-1s", "10 s", "1w", "1D", "1H", "ms", "s10", "999999999999999999d"])
    func badDurations(text: String) {
        #expect(Units.parseDuration(text) == nil)
    }

    @Test func formatsLikeTheManifest() {
        #expect([0, 512, 16_384, 10_485_760, 1_000_000, 1 << 30, 1500].map { Units.format(size: $0) }
                == ["0", "512", "16KiB", "10MiB", "1MB", "1GiB", "1500"])
        #expect([Duration.zero, .milliseconds(250), .seconds(10), .seconds(120), .seconds(7200), .milliseconds(1500),
                 .seconds(30 * 86_400), .seconds(36 * 3600)]
                    .map { Units.format(duration: $0) } == ["0ms", "250ms", "10s", "2m", "2h", "1500ms", "30d", "36h"])
    }

    @Test(arguments: [
        ("0.0.0.0:8080", "0.0.0.0:8080"), (":8080", "0.0.0.0:8080"), ("[::]:80", "[::]:80"), ("[::1]:0", "[::1]:0"),
        ("[FE80::1]:443", "[fe80::1]:443"), ("127.0.0.1:65535", "127.0.0.1:65535"),
    ])
    func listenAddresses(text: String, normal: String) {
        #expect(ListenAddress(parsing: text)?.description == normal)
    }

    @Test(arguments: ["8080", "localhost:80", "1.2.3:80", "256.0.0.1:80", "1.2.3.4:65536", "1.2.3.4:", "[::1]", "::1:80",
                      "[::1]80", "[x]:80", "1.2.3.4:+80"])
    func badListenAddresses(text: String) {
        #expect(ListenAddress(parsing: text) == nil)
    }

    @Test(arguments: [
        ("stauts", "status"), ("Path", "path"), ("max_bdy", "max_body"), ("listn", "listen"), ("zzz", nil),
        ("redirects", "redirect"), ("xy", nil),
    ] as [(String, String?)])
    func didYouMean(key: String, suggestion: String?) {
        let keys = ["status", "path", "max_body", "listen", "redirect", "respond"]
        #expect(EditDistance.suggestion(for: key, among: keys) == suggestion)
    }
}

/// Levels and window sizes for each coding. Two presets; see docs/compression.md for the numbers
/// behind them.
public struct CompressionParameters: Sendable, Hashable {
    /// zlib level 1...9.
    public var gzipLevel: Int32
    /// zlib window bits 9...15 (the window is 2^bits bytes; the gzip wrapper flag is added inside).
    public var gzipWindowBits: Int32
    /// zlib memLevel 1...9: the hash table and the pending-output buffer scale with 2^(memLevel+9).
    public var gzipMemoryLevel: Int32
    /// Brotli quality 0...11.
    public var brotliQuality: UInt32
    /// Brotli window bits 10...24.
    public var brotliWindowBits: UInt32
    /// zstd level 1...19.
    public var zstdLevel: Int32
    /// zstd window log 10...23, 0 for the level's own (RFC 9659 §4: at most 8 MiB = 2^23 over HTTP).
    public var zstdWindowLog: Int32

    public init(gzipLevel: Int32, gzipWindowBits: Int32, gzipMemoryLevel: Int32, brotliQuality: UInt32,
                brotliWindowBits: UInt32, zstdLevel: Int32, zstdWindowLog: Int32) {
        self.gzipLevel = gzipLevel
        self.gzipWindowBits = gzipWindowBits
        self.gzipMemoryLevel = gzipMemoryLevel
        self.brotliQuality = brotliQuality
        self.brotliWindowBits = brotliWindowBits
        self.zstdLevel = zstdLevel
        self.zstdWindowLog = zstdWindowLog
    }

    /// Bodies compressed as they stream (CGI, FastCGI, proxy, views): cheap per byte, and bounded
    /// memory per stream, because there is one per response in flight.
    ///
    /// - gzip level 5 (Caddy's default; nginx users' usual 5-6), 32 KiB window, memLevel 8:
    ///   ~262 KiB of zlib state.
    /// - Brotli quality 5 with a 64 KiB window (lgwin 16): at lgwin <= 16 quality 5 uses Brotli's
    ///   small "forgetful chain" hasher, which both compresses better than quality 4 and holds less
    ///   (~1.8-2.1 MiB at most, measured) than lgwin 18 (~4.5 MiB).
    /// - zstd level 3 with a 128 KiB window (windowLog 17, Caddy's choice "to lighten clients'
    ///   load"): ~1.6 MiB of zstd state.
    public static let streaming = CompressionParameters(gzipLevel: 5, gzipWindowBits: 15, gzipMemoryLevel: 8,
                                                        brotliQuality: 5, brotliWindowBits: 16,
                                                        zstdLevel: 3, zstdWindowLog: 17)

    /// Static files compressed once and kept in `CompressedFileCache`: the cost is paid once per
    /// file version and coding, so the levels are high, but not the slowest (Brotli 11 is twice
    /// Brotli 10's time for ~2% on jquery.js; zstd 19 is ~0.3 s per MiB).
    /// State is freed as soon as the file is done; peaks (measured on 1 MiB of HTML): gzip 389 KiB,
    /// Brotli ~20 MiB, zstd ~19 MiB.
    public static let staticFile = CompressionParameters(gzipLevel: 9, gzipWindowBits: 15, gzipMemoryLevel: 9,
                                                         brotliQuality: 10, brotliWindowBits: 20,
                                                         zstdLevel: 19, zstdWindowLog: 23)
}

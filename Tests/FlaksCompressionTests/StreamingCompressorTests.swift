import FlaksTestSupport
import Testing
@testable import FlaksCompression

@Suite("Streaming and one-shot compression, decoded by the real decoders")
struct StreamingCompressorTests {
    /// Streams `fixture` in random slices with flushes in between; after every flush the decoder
    /// must already have produced every byte written so far (that is what lets a streaming app
    /// stream), and the finished stream must decode to the input and end properly.
    @Test(arguments: ContentCoding.allCases, Fixture.allCases)
    func streamedInRandomSlicesWithFlushes(coding: ContentCoding, fixture: Fixture) throws {
        let input = fixture.bytes
        var flushes = 0
        for seed: UInt64 in [1, 2, 3] {
            let seed = seed &* 0x9E37 &+ UInt64(fixture.rawValue.utf8.count)
            var rng = SplitMix64(seed: seed)
            let c = try StreamingCompressor(coding: coding)
            let d = try makeDecoder(coding)
            var decoded: [UInt8] = []
            var offset = 0
            while offset < input.count {
                let n: Int = switch rng.int(0...9) {
                case 0...2: rng.int(1...64)
                case 3...6: rng.int(1...8192)
                default: rng.int(8192...131_072)
                }
                let end = min(input.count, offset + n)
                decoded += try d.feed(try c.write(Array(input[offset..<end])))
                offset = end
                #expect(decoded.count <= offset, "seed \(seed)")
                if rng.chance(0.3) {
                    decoded += try d.feed(try c.flush())
                    flushes += 1
                    // Everything written so far is out, and it is right.
                    try #require(decoded.count == offset, "seed \(seed): \(decoded.count) of \(offset) bytes after a flush")
                    #expect(!d.ended)
                }
            }
            decoded += try d.feed(try c.finish())
            #expect(d.ended, "seed \(seed)")
            #expect(decoded == input, "seed \(seed)")
            #expect(c.isFinished)
            #expect(c.stateBytes == 0)
            #expect(c.bytesIn == input.count)
        }
        if fixture == .html100KiB || fixture == .random1MiB { #expect(flushes > 2) }
    }

    /// Whole-buffer compression for static files, decoded one-shot: zlib inflate,
    /// BrotliDecoderDecompress, ZSTD_decompress (the frame records the content size).
    @Test(arguments: ContentCoding.allCases, Fixture.allCases)
    func oneShotRoundTrip(coding: ContentCoding, fixture: Fixture) throws {
        let input = fixture.bytes
        let encoded = try StreamingCompressor.compress(input, coding: coding)
        let decoded: [UInt8] = switch coding {
        case .gzip: try gunzipWhole(encoded)
        case .br: try brotliDecompressWhole(encoded, expectedSize: input.count)
        case .zstd: try zstdDecompressWhole(encoded)
        }
        #expect(decoded == input)
        if fixture == .html100KiB { #expect(encoded.count < input.count / 2) }
    }

    /// Streaming settings, written whole and finished without a flush.
    @Test(arguments: ContentCoding.allCases)
    func streamingParametersWholeBody(coding: ContentCoding) throws {
        let input = Fixture.html100KiB.bytes
        let c = try StreamingCompressor(coding: coding)
        var out: [UInt8] = []
        try c.write(input, into: &out)
        try c.finish(into: &out)
        #expect(try decodeAll(coding, out) == input)
        #expect(c.bytesOut == out.count)
        #expect(out.count < input.count / 2)
    }

    @Test(arguments: ContentCoding.allCases)
    func gzipAndFrameMagic(coding: ContentCoding) throws {
        let out = try StreamingCompressor.compress(Fixture.small.bytes, coding: coding)
        switch coding {
        case .gzip: #expect(Array(out.prefix(3)) == [0x1F, 0x8B, 0x08])  // RFC 1952: ID1 ID2 CM=deflate
        case .zstd: #expect(Array(out.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])  // RFC 8878 magic number
        case .br: #expect(!out.isEmpty)  // Brotli has no magic number
        }
    }

    @Test(arguments: ContentCoding.allCases)
    func flushWithNothingNewWritesNothing(coding: ContentCoding) throws {
        let c = try StreamingCompressor(coding: coding)
        #expect(try c.flush().isEmpty)  // nothing written yet
        var out = try c.write(Array("data: 1\n\n".utf8))
        let first = try c.flush()
        #expect(!first.isEmpty)
        #expect(try c.flush().isEmpty)
        #expect(try c.write([]).isEmpty)
        out += first
        out += try c.finish()
        #expect(try decodeAll(coding, out) == Array("data: 1\n\n".utf8))
    }

    @Test(arguments: ContentCoding.allCases)
    func useAfterFinishOrAbortThrows(coding: ContentCoding) throws {
        let c = try StreamingCompressor(coding: coding)
        _ = try c.finish()
        #expect(throws: CompressionError.finished) { try c.write([1]) }
        #expect(throws: CompressionError.finished) { try c.flush() }
        #expect(throws: CompressionError.finished) { try c.finish() }

        let a = try StreamingCompressor(coding: coding)
        _ = try a.write(Fixture.html100KiB.bytes)
        #expect(a.stateBytes > 0)
        a.abort()
        #expect(a.isFinished)
        #expect(a.stateBytes == 0)
        #expect(throws: CompressionError.finished) { try a.write([1]) }
        a.abort()  // twice is harmless
    }

    /// The state per stream is bounded by the parameters, not by the body: 4 MiB through a
    /// streaming compressor, in 16 KiB reads and without flushes (the worst case: the coders keep
    /// the most back), stays under these bounds (docs/compression.md has the measured values).
    @Test(arguments: ContentCoding.allCases)
    func streamingMemoryIsBounded(coding: ContentCoding) throws {
        let bound = switch coding {
        case .gzip: 300 * 1024
        case .br: 2560 * 1024
        case .zstd: 2048 * 1024
        }
        let page = Fixture.html(count: 1 << 20, seed: 11)
        let c = try StreamingCompressor(coding: coding)
        var out: [UInt8] = []
        for _ in 0..<4 {
            var i = 0
            while i < page.count {
                try c.write(Array(page[i..<min(page.count, i + 16384)]), into: &out)
                i += 16384
            }
            #expect(c.peakStateBytes <= bound, "\(coding): \(c.peakStateBytes) bytes of state")
        }
        try c.finish(into: &out)
        #expect(c.stateBytes == 0)
        #expect(try decodeAll(coding, out) == page + page + page + page)
    }

    /// A known small length shrinks windows and tables (nginx's gzip trick, Brotli's size hint,
    /// zstd's srcSizeHint), and a body longer than the hint still round-trips.
    @Test(arguments: ContentCoding.allCases)
    func sizeHintShrinksState(coding: ContentCoding) throws {
        let body = Fixture.html(count: 2000, seed: 3)
        func run(hint: Int?, _ input: [UInt8]) throws -> (Int, [UInt8]) {
            let c = try StreamingCompressor(coding: coding, sizeHint: hint)
            var out = try c.write(input)
            out += try c.finish()
            return (c.peakStateBytes, out)
        }
        let (unhinted, a) = try run(hint: nil, body)
        let (hinted, b) = try run(hint: body.count, body)
        // Brotli's quality-5 hasher has a fixed size (~570 KiB) and its ring buffer already grows
        // only as input arrives, so the hint cannot make it smaller; the others shrink.
        if coding == .br {
            #expect(hinted <= unhinted, "\(coding): \(hinted) vs \(unhinted)")
        } else {
            #expect(hinted < unhinted / 4, "\(coding): \(hinted) vs \(unhinted)")
        }
        #expect(try decodeAll(coding, a) == body)
        #expect(try decodeAll(coding, b) == body)
        // The hint was wrong: 100 bytes announced, 100 KiB sent.
        let long = Fixture.html100KiB.bytes
        let (_, c) = try run(hint: 100, long)
        #expect(try decodeAll(coding, c) == long)
    }
}

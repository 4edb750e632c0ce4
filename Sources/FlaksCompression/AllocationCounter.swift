#if canImport(Glibc)
import Glibc
#endif

/// Counts the bytes a compressor's C state holds: zlib, Brotli and zstd all take an allocator with
/// an opaque pointer, and this is it. So the memory per stream is measured rather than guessed
/// (`StreamingCompressor.stateBytes`, the tests' bounds, metrics).
///
/// Owned by one `StreamingCompressor` and used only from the thread that drives it.
final class AllocationCounter {
    private(set) var current = 0
    private(set) var peak = 0

    /// Each block is preceded by this many bytes holding its size: zlib's free function is not
    /// told the size. 16 keeps malloc's 16-byte alignment.
    static let header = 16

    func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
        guard size >= 0, size <= Int.max - Self.header, let raw = malloc(size + Self.header) else { return nil }
        raw.storeBytes(of: size, as: Int.self)
        current += size
        if current > peak { peak = current }
        return raw + Self.header
    }

    func free(_ pointer: UnsafeMutableRawPointer?) {
        guard let pointer else { return }
        let raw = pointer - Self.header
        current -= raw.load(as: Int.self)
        Glibc.free(raw)
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> AllocationCounter? {
        guard let opaque else { return nil }
        return Unmanaged<AllocationCounter>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// `void *(*)(void *opaque, size_t size)`: Brotli's and zstd's allocator shape.
let countingAlloc: @convention(c) (UnsafeMutableRawPointer?, Int) -> UnsafeMutableRawPointer? = { opaque, size in
    AllocationCounter.from(opaque)?.allocate(size)
}

/// `void (*)(void *opaque, void *address)`: Brotli's and zstd's free shape.
let countingFree: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { opaque, pointer in
    AllocationCounter.from(opaque)?.free(pointer)
}

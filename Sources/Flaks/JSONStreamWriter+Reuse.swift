#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread reuse, so that a small value's encode allocates only its output array.
///
/// Each thread keeps one writer (a pthread key; the destructor releases it when the thread ends), with
/// its buffer, frame stack and the `KeyedEncodingContainer` boxes it made. An encode started while the
/// thread's writer is busy (an `encode(to:)` that encodes something else on the way) gets a fresh one.
///
/// Box reuse: `encoder.container(keyedBy:)` must return a `KeyedEncodingContainer<Key>`, whose init
/// allocates a box (`_KeyedEncodingContainerBox<Concrete>`) and looks up two generic metadata records:
/// ~1,000 instructions, half of a small value's encode. The writer keeps the boxes it made, per key
/// type, and hands one out again when nothing else holds it (`isKnownUniquelyReferenced`). A cached
/// box's container reads its frame id from `cachedFrames[slot]`, set on each reuse. The box is reached
/// as the struct's single stored reference (`unsafeBitCast` between `KeyedEncodingContainer<Key>` and
/// `AnyObject`); `boxReuseWorks` checks that layout once and turns the cache off if it differs.
extension JSONStreamWriter {
    /// Boxes kept per writer (several per key type when containers of one type nest).
    static let maxCachedBoxes = 16

    /// Whether `KeyedEncodingContainer` is one class reference, as the box cache assumes.
    static let boxReuseWorks: Bool = {
        guard MemoryLayout<KeyedEncodingContainer<ProbeKey>>.size == MemoryLayout<AnyObject>.size else { return false }
        let probe = JSONStreamWriter(capacity: 16)
        let c = KeyedEncodingContainer(JSONStreamKeyedContainer<ProbeKey>(writer: probe, id: 0, slot: -1))
        let box = unsafeBitCast(c, to: AnyObject.self)
        return String(describing: type(of: box)).contains("KeyedEncodingContainerBox")
    }()

    enum ProbeKey: CodingKey { case probe }

    /// The calling thread's writer, begun; or a fresh one when it is busy.
    static func acquire() -> JSONStreamWriter {
        if let raw = pthread_getspecific(threadWriterKey) {
            let w = Unmanaged<JSONStreamWriter>.fromOpaque(raw).takeUnretainedValue()
            if !w.inUse {
                w.begin()
                return w
            }
            let fresh = JSONStreamWriter()
            fresh.begin()
            return fresh
        }
        let w = JSONStreamWriter(cachesContainers: boxReuseWorks)
        pthread_setspecific(threadWriterKey, Unmanaged.passRetained(w).toOpaque())
        w.begin()
        return w
    }

    /// A keyed container for frame `frame`, in a reused box when one is free.
    func keyedContainer<Key: CodingKey>(_ type: Key.Type, frame: UInt64) -> KeyedEncodingContainer<Key> {
        guard cachesContainers && frame != 0 else {
            return KeyedEncodingContainer(JSONStreamKeyedContainer<Key>(writer: self, id: frame, slot: -1))
        }
        let t = ObjectIdentifier(Key.self)
        let free = cachedBoxes.withUnsafeMutableBufferPointer { boxes in
            cachedKeyTypes.withUnsafeBufferPointer { types in
                (0..<types.count).first { types[$0] == t && isKnownUniquelyReferenced(&boxes[$0]) }
            }
        }
        if let i = free {
            cachedFrames[i] = frame
            return unsafeBitCast(cachedBoxes[i], to: KeyedEncodingContainer<Key>.self)
        }
        guard cachedKeyTypes.count < Self.maxCachedBoxes else {
            return KeyedEncodingContainer(JSONStreamKeyedContainer<Key>(writer: self, id: frame, slot: -1))
        }
        let c = KeyedEncodingContainer(JSONStreamKeyedContainer<Key>(writer: self, id: 0, slot: cachedKeyTypes.count))
        cachedKeyTypes.append(t)
        cachedBoxes.append(unsafeBitCast(c, to: AnyObject.self))
        cachedFrames.append(frame)
        return c
    }

    /// Breaks the writer → box → container → writer cycles (thread exit).
    func dropCachedContainers() {
        cachedBoxes.removeAll()
        cachedKeyTypes.removeAll()
        cachedFrames.removeAll()
    }
}

/// The pthread key of each thread's writer.
private let threadWriterKey: pthread_key_t = {
    var key = pthread_key_t()
    let rc = pthread_key_create(&key, { raw in releaseThreadWriter(raw) })
    precondition(rc == 0, "pthread_key_create: \(rc)")
    return key
}()

private func releaseThreadWriter(_ raw: UnsafeMutableRawPointer?) {
    guard let raw else { return }
    let w = Unmanaged<JSONStreamWriter>.fromOpaque(raw).takeRetainedValue()
    w.dropCachedContainers()
}

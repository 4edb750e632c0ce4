#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a streaming encode stopped: the caller either re-encodes with Foundation or reports an error.
enum JSONStreamFailure: Equatable {
    /// Something a single forward pass cannot write (a container used again after a later sibling was
    /// started, a duplicate key, `codingPath` read below the top level, NaN/infinity): Foundation's
    /// `JSONEncoder` encodes the whole value instead, so output and errors are exactly its own.
    case needsFoundation
    /// Thrown as `EncodingError.invalidValue` with this description: a container request Foundation's
    /// encoder answers with a trap (keyed after unkeyed from one encoder, a second value through one
    /// single-value container), or `Decimal.nan` (Foundation writes a bare `NaN`, which is not JSON).
    case invalid(String)
    /// More than `JSONStreamWriter.maxContainerDepth` nested arrays/objects, or more than
    /// `maxLevels` nested values: Foundation's writer refuses the first; the second stops runaway recursion.
    case tooDeep
}

/// Thrown by the writer's containers once a `JSONStreamFailure` was recorded; the writer's `failure`
/// says which (user code may catch and drop this error: the recorded failure still decides).
struct JSONStreamStop: Error {}

/// The byte sink and container stack behind `StreamingJSONEncoder`: JSON is written in the order the
/// `encode(to:)` methods call, with no intermediate tree.
///
/// Streaming needs a discipline the `Encoder` protocol does not promise: a container may be used only
/// while it is the innermost open one. Each open container (or value slot) is a `Frame` with an id;
/// containers remember their frame's id. Using a container whose frame is below the top closes the
/// frames above it first, but only those opened by `nestedContainer`/`nestedUnkeyedContainer`/
/// `superEncoder` ("detached": nothing else is writing into them), never a value whose `encode(to:)`
/// is still running ("call-bound"). A container whose frame was already closed, or any other ordering
/// that a forward pass cannot honour, records `.needsFoundation` and the value is re-encoded by
/// Foundation. Frame ids are never reused within one writer, so a stale container never matches.
///
/// One writer per encode, used by one thread; not Sendable. The hot fields skip the dynamic
/// exclusivity checks (`@exclusivity(unchecked)`): each access would otherwise cost a runtime call, and
/// every access happens inside one synchronous encode on one thread.
final class JSONStreamWriter {
    enum FrameKind: UInt8 {
        /// A value's place that nothing was written to yet (closes as `{}`, Foundation's empty value).
        case slot
        /// A value's place that a single-value container filled.
        case filled
        case object
        case array
    }

    /// How an object checks its keys for repeats (Foundation keeps the last value of a repeated key).
    enum KeyCheck: UInt8 {
        /// Decided at the second key, from the key type.
        case undecided
        /// Keys of a `Dictionary` (`_DictionaryCodingKey`): unique by construction.
        case none
        /// Compare with each earlier key (`keyRanges` from the frame's `keyBase`).
        case linear
        /// Past `linearKeyLimit` keys: a `Set<String>` in `keySets`.
        case set
    }

    /// Where a written key's escaped bytes are (between the quotes), and whether they are all ASCII.
    struct KeyRange {
        var start: Int
        var end: Int
        var ascii: Bool
    }

    /// One open container or value slot.
    struct Frame {
        var id: UInt64
        var kind: FrameKind
        /// Opened for a value whose `encode(to:)` is running: only that call may close it.
        var callBound: Bool
        var keyCheck: KeyCheck = .undecided
        /// Elements (array) or keys (object) written so far.
        var count: Int = 0
        var firstKey = KeyRange(start: 0, end: 0, ascii: true)
        /// `keyRanges.count` when the frame opened: its keys (from the second on) follow.
        var keyBase: Int = 0
    }

    /// Foundation's writer refuses more nested arrays/objects than this (measured: 511 encode, 512 throw).
    static let maxContainerDepth = 511
    /// Open frames of any kind (containers and single values): a guard against runaway `encode(to:)` recursion.
    static let maxLevels = 2048
    /// Objects with more keys than this check repeats through a `Set<String>` instead of comparing.
    static let linearKeyLimit = 32
    /// 0 is the id of the dummy containers handed out after a failure; `failedID` replaces the top id
    /// once failed, so no container matches. Ids count up for the writer's life (a thread's writer
    /// serves many encodes), so a container kept from an earlier encode never matches a later frame.
    static let failedID = UInt64.max
    /// A thread's writer keeps its buffer between encodes up to this size.
    static let keptCapacity = 64 << 10

    /// The output: `len` bytes written of `cap` allocated.
    @exclusivity(unchecked) var buf: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) var cap: Int
    @exclusivity(unchecked) var len = 0
    /// The innermost open frame; `below` holds the rest, outermost first.
    @exclusivity(unchecked) var top: Frame
    @exclusivity(unchecked) var below: [Frame] = []
    @exclusivity(unchecked) var keyRanges: [KeyRange] = []
    @exclusivity(unchecked) var keySets: [UInt64: Set<String>] = [:]
    @exclusivity(unchecked) var rootID: UInt64 = 1
    @exclusivity(unchecked) var nextID: UInt64 = 2
    /// Open arrays/objects.
    @exclusivity(unchecked) var containers = 0
    @exclusivity(unchecked) var failure: JSONStreamFailure?
    /// Whether an encode is running (a thread's writer is not shared with a nested encode).
    @exclusivity(unchecked) var inUse = false
    /// Only for `dictionaryKeyType`: note the key type of the first keyed container.
    let recordsKeyType: Bool
    var recordedKeyType: ObjectIdentifier?
    /// A thread's writer reuses `KeyedEncodingContainer` boxes (see `JSONStreamWriter+Reuse.swift`).
    let cachesContainers: Bool
    @exclusivity(unchecked) var cachedKeyTypes: [ObjectIdentifier] = []
    @exclusivity(unchecked) var cachedBoxes: [AnyObject] = []
    @exclusivity(unchecked) var cachedFrames: [UInt64] = []

    init(capacity: Int = 256, recordsKeyType: Bool = false, cachesContainers: Bool = false) {
        cap = capacity
        buf = .allocate(capacity: capacity)
        top = Frame(id: 1, kind: .slot, callBound: true)
        self.recordsKeyType = recordsKeyType
        self.cachesContainers = cachesContainers
    }

    deinit { buf.deallocate() }

    /// Readies the writer for the next encode: an empty root slot.
    func begin() {
        inUse = true
        len = 0
        if !below.isEmpty { below.removeAll(keepingCapacity: true) }
        if !keyRanges.isEmpty { keyRanges.removeAll(keepingCapacity: true) }
        if !keySets.isEmpty { keySets = [:] }
        containers = 0
        failure = nil
        rootID = nextID
        nextID &+= 1
        top = Frame(id: rootID, kind: .slot, callBound: true)
    }

    /// After an encode: frees a buffer grown past `keptCapacity`.
    func end() {
        inUse = false
        if cap > Self.keptCapacity {
            buf.deallocate()
            cap = 256
            buf = .allocate(capacity: cap)
        }
    }

    /// The bytes written, as the array a `Response` body takes.
    func output() -> [UInt8] {
        Array(UnsafeBufferPointer(start: buf, count: len))
    }

    /// Makes room for `n` more bytes.
    @inline(__always)
    func reserve(_ n: Int) {
        if _slowPath(len + n > cap) { grow(len + n) }
    }

    @inline(never)
    func grow(_ needed: Int) {
        var newCap = cap * 2
        while newCap < needed { newCap *= 2 }
        let new = UnsafeMutablePointer<UInt8>.allocate(capacity: newCap)
        new.initialize(from: buf, count: len)
        buf.deallocate()
        buf = new
        cap = newCap
    }

    @inline(__always)
    func append(_ b: UInt8) {
        reserve(1)
        buf[len] = b
        len += 1
    }

    func append(_ p: UnsafeBufferPointer<UInt8>) {
        guard let base = p.baseAddress else { return }
        reserve(p.count)
        (buf + len).initialize(from: base, count: p.count)
        len += p.count
    }

    /// The key type `Dictionary` encodes with (the stdlib's internal `_DictionaryCodingKey`), found once by
    /// encoding a one-entry dictionary. Its objects skip the repeated-key check.
    static let dictionaryKeyType: ObjectIdentifier? = {
        let probe = JSONStreamWriter(capacity: 16, recordsKeyType: true)
        try? ["k": 0].encode(to: JSONStreamEncoderLevel(writer: probe, id: probe.rootID))
        return probe.recordedKeyType
    }()

    // MARK: Failure

    /// Records the first failure; from here on every container call throws `JSONStreamStop`.
    func markFailed(_ f: JSONStreamFailure) {
        if failure == nil { failure = f }
        top.id = Self.failedID
    }

    func fail(_ f: JSONStreamFailure) throws -> Never {
        markFailed(f)
        throw JSONStreamStop()
    }

    // MARK: The frame stack

    /// Makes frame `id` the innermost, closing detached frames above it. Fast when it already is.
    @inline(__always)
    func enter(_ id: UInt64) throws {
        if _slowPath(top.id != id) { try reenter(id) }
    }

    @inline(never)
    func reenter(_ id: UInt64) throws {
        if failure != nil { throw JSONStreamStop() }
        guard id != 0, let i = below.lastIndex(where: { $0.id == id }) else { try fail(.needsFoundation) }
        if top.callBound || below[(i + 1)...].contains(where: { $0.callBound }) { try fail(.needsFoundation) }
        while top.id != id { closeTop() }
    }

    /// Opens a frame above the current top and returns its id.
    func push(_ kind: FrameKind, callBound: Bool) throws -> UInt64 {
        if kind == .object || kind == .array {
            if containers >= Self.maxContainerDepth { try fail(.tooDeep) }
            containers += 1
        }
        if below.count >= Self.maxLevels { try fail(.tooDeep) }
        if below.capacity == 0 { below.reserveCapacity(8) }
        below.append(top)
        let id = nextID
        nextID &+= 1
        top = Frame(id: id, kind: kind, callBound: callBound, keyBase: keyRanges.count)
        return id
    }

    /// Writes the top frame's end and pops it (never the root).
    func closeTop() {
        switch top.kind {
        case .object: append(UInt8(ascii: "}")); containers -= 1
        case .array: append(UInt8(ascii: "]")); containers -= 1
        case .slot: appendLiteral("{}")
        case .filled: break
        }
        if keyRanges.count > top.keyBase { keyRanges.removeSubrange(top.keyBase...) }
        if top.keyCheck == .set { keySets[top.id] = nil }
        top = below.removeLast()
    }

    /// After a value's `encode(to:)` returned: closes what it left open, then its own slot.
    func closeCallBound(_ id: UInt64) throws {
        try enter(id)
        closeTop()
    }

    /// After the root value's `encode(to:)` returned: closes everything.
    func finishRoot() throws {
        try enter(rootID)
        switch top.kind {
        case .slot: try fail(.needsFoundation)  // Foundation: "Top-level T did not encode any values."
        case .filled: break
        case .object: append(UInt8(ascii: "}"))
        case .array: append(UInt8(ascii: "]"))
        }
        if failure != nil { throw JSONStreamStop() }
    }

    // MARK: Container requests (from an encoder level)

    /// `container(keyedBy:)` on the encoder of slot `id`: writes `{` the first time; a second request
    /// continues the same object (Foundation merges them). Returns the frame id, or 0 after a failure.
    func openKeyed(_ id: UInt64) -> UInt64 {
        if top.id != id {
            do { try reenter(id) } catch { return 0 }
        }
        switch top.kind {
        case .slot:
            if containers >= Self.maxContainerDepth { markFailed(.tooDeep); return 0 }
            containers += 1
            append(UInt8(ascii: "{"))
            top.kind = .object
            return id
        case .object:
            return id
        case .array, .filled:
            markFailed(.invalid("a keyed container was requested from an encoder that already encoded an unkeyed container or a single value"))
            return 0
        }
    }

    /// `unkeyedContainer()`: writes `[` the first time; a second request continues the same array.
    func openUnkeyed(_ id: UInt64) -> UInt64 {
        if top.id != id {
            do { try reenter(id) } catch { return 0 }
        }
        switch top.kind {
        case .slot:
            if containers >= Self.maxContainerDepth { markFailed(.tooDeep); return 0 }
            containers += 1
            append(UInt8(ascii: "["))
            top.kind = .array
            return id
        case .array:
            return id
        case .object, .filled:
            markFailed(.invalid("an unkeyed container was requested from an encoder that already encoded a keyed container or a single value"))
            return 0
        }
    }

    /// Before a single-value container writes: its slot must be the top and still empty.
    @inline(__always)
    func beginSingle(_ id: UInt64) throws {
        if _slowPath(top.id != id || top.kind != .slot) { try beginSingleSlow(id) }
        top.kind = .filled
    }

    @inline(never)
    func beginSingleSlow(_ id: UInt64) throws {
        if failure != nil { throw JSONStreamStop() }
        guard top.id == id else { try fail(.needsFoundation) }
        if top.kind == .filled { try fail(.invalid("a single-value container encoded a second value")) }
        try fail(.needsFoundation)  // a value after a keyed/unkeyed container of the same encoder
    }

    // MARK: Elements

    /// Before an object member: `,` when not the first, the key, `:`; a repeated key fails.
    @inline(__always)
    func beginKey(_ id: UInt64, _ key: String, _ keyType: Any.Type) throws {
        try enter(id)
        if top.count == 0 {
            let start = len + 1
            let ascii = writeString(key)
            top.firstKey = KeyRange(start: start, end: len - 1, ascii: ascii)
        } else {
            append(UInt8(ascii: ","))
            let start = len + 1
            let ascii = writeString(key)
            try noteKey(KeyRange(start: start, end: len - 1, ascii: ascii), keyType)
        }
        append(UInt8(ascii: ":"))
        top.count += 1
    }

    /// Before an array element: `,` when not the first.
    @inline(__always)
    func beginElement(_ id: UInt64) throws {
        try enter(id)
        if top.count > 0 { append(UInt8(ascii: ",")) }
        top.count += 1
    }

    /// The second and later keys of the top object: fails on a key equal (as `String`s, so canonically
    /// equivalent spellings count, as in Foundation's dictionary) to an earlier one.
    @inline(never)
    func noteKey(_ key: KeyRange, _ keyType: Any.Type) throws {
        switch top.keyCheck {
        case .undecided:
            if let dict = Self.dictionaryKeyType, dict == ObjectIdentifier(keyType) {
                top.keyCheck = .none
                return
            }
            top.keyCheck = .linear
            keyRanges.append(top.firstKey)
            try noteKey(key, keyType)
        case .none:
            return
        case .linear:
            for i in top.keyBase..<keyRanges.count where sameKey(keyRanges[i], key) { try fail(.needsFoundation) }
            keyRanges.append(key)
            if keyRanges.count - top.keyBase > Self.linearKeyLimit {
                var set = Set<String>()
                for i in top.keyBase..<keyRanges.count { set.insert(keyString(keyRanges[i])) }
                keyRanges.removeSubrange(top.keyBase...)
                keySets[top.id] = set
                top.keyCheck = .set
            }
        case .set:
            if !keySets[top.id, default: []].insert(keyString(key)).inserted { try fail(.needsFoundation) }
        }
    }

    func sameKey(_ a: KeyRange, _ b: KeyRange) -> Bool {
        if a.ascii && b.ascii {
            let n = a.end - a.start
            guard n == b.end - b.start else { return false }
            for i in 0..<n where buf[a.start + i] != buf[b.start + i] { return false }
            return true
        }
        return keyString(a) == keyString(b)
    }

    func keyString(_ r: KeyRange) -> String {
        String(decoding: UnsafeBufferPointer(start: buf + r.start, count: r.end - r.start), as: UTF8.self)
    }

    /// The frame's element count, for `UnkeyedEncodingContainer.count`.
    func count(of id: UInt64) -> Int {
        if top.id == id { return top.count }
        if let f = below.last(where: { $0.id == id }) { return f.count }
        markFailed(.needsFoundation)
        return 0
    }

    /// `codingPath`: only the root's is known (`[]`); elsewhere Foundation encodes the value instead.
    func codingPath(_ id: UInt64) -> [any CodingKey] {
        if id != rootID { markFailed(.needsFoundation) }
        return []
    }

    /// `nestedContainer`, `nestedUnkeyedContainer` and `superEncoder` open a detached frame after the
    /// key or comma; 0 after a failure.
    func openNested(_ id: UInt64, key: String?, keyType: Any.Type, _ kind: FrameKind) -> UInt64 {
        do {
            if let key { try beginKey(id, key, keyType) } else { try beginElement(id) }
            let nested = try push(kind, callBound: false)
            switch kind {
            case .object: append(UInt8(ascii: "{"))
            case .array: append(UInt8(ascii: "["))
            case .slot, .filled: break
            }
            return nested
        } catch {
            return 0
        }
    }

    // MARK: Values

    /// Writes `value` after its key/comma: scalars and Foundation's special cases directly, anything
    /// else through its `encode(to:)` in a call-bound slot.
    func writeValue<T: Encodable>(_ value: T) throws {
        if try writeKnown(value) { return }
        let id = try push(.slot, callBound: true)
        try value.encode(to: JSONStreamEncoderLevel(writer: self, id: id))
        try closeCallBound(id)
    }

    /// The types written without their `encode(to:)`: common scalars (faster), and the ones Foundation's
    /// `JSONEncoder` special-cases under its default strategies: `Data` (base64 string), `URL`
    /// (`absoluteString`), `Decimal` (a number, its `description`). `Date` needs nothing: the default
    /// `.deferredToDate` is Date's own `encode(to:)`. Type checks compare metadata: no dynamic casts.
    @inline(__always)
    func writeKnown<T: Encodable>(_ value: T) throws -> Bool {
        if T.self == String.self { writeString(reinterpret(value, as: String.self)); return true }
        if T.self == Int.self { writeInt(Int64(reinterpret(value, as: Int.self))); return true }
        if T.self == Double.self { try writeDouble(reinterpret(value, as: Double.self)); return true }
        if T.self == Bool.self { writeBool(reinterpret(value, as: Bool.self)); return true }
        return try writeFoundationValue(value)
    }

    @inline(never)
    func writeFoundationValue<T: Encodable>(_ value: T) throws -> Bool {
        if T.self == Data.self {
            writeString(reinterpret(value, as: Data.self).base64EncodedString())
            return true
        }
        if T.self == URL.self {
            writeString(reinterpret(value, as: URL.self).absoluteString)
            return true
        }
        if T.self == Decimal.self {
            let d = reinterpret(value, as: Decimal.self)
            // Foundation writes a bare `NaN` here (not JSON); we refuse it as it does for Double.nan.
            if d.isNaN { try fail(.invalid("Unable to encode Decimal.nan directly in JSON.")) }
            appendASCII(d.description)
            return true
        }
        return false
    }

    @inline(__always)
    func reinterpret<T, U>(_ value: T, as: U.Type) -> U {
        withUnsafePointer(to: value) { UnsafeRawPointer($0).load(as: U.self) }
    }

    func appendLiteral(_ s: StaticString) {
        s.withUTF8Buffer { append($0) }
    }

    /// Appends a string that needs no escaping (numbers).
    func appendASCII(_ s: String) {
        var s = s
        s.withUTF8 { append($0) }
    }

    func writeNull() { appendLiteral("null") }

    func writeBool(_ v: Bool) {
        if v { appendLiteral("true") } else { appendLiteral("false") }
    }

    func writeInt(_ v: Int64) {
        if v < 0 {
            append(UInt8(ascii: "-"))
            writeUInt(v.magnitude)
        } else {
            writeUInt(UInt64(v))
        }
    }

    func writeUInt(_ v: UInt64) {
        var digits = 1
        var t = v
        while t >= 10 { t /= 10; digits += 1 }
        reserve(digits)
        var p = buf + len + digits
        var v = v
        repeat {
            p -= 1
            p.pointee = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
            v /= 10
        } while v != 0
        len += digits
    }

    /// Foundation's format: `description` without a trailing ".0"; NaN and infinities make Foundation
    /// encode the value (it throws `EncodingError.invalidValue` with the coding path).
    func writeDouble(_ v: Double) throws {
        guard v.isFinite else { try fail(.needsFoundation) }
        appendNumber(v.description)
    }

    func writeFloat(_ v: Float) throws {
        guard v.isFinite else { try fail(.needsFoundation) }
        appendNumber(v.description)
    }

    func appendNumber(_ s: String) {
        var s = s
        s.withUTF8 { p in
            var n = p.count
            if n >= 2 && p[n - 2] == UInt8(ascii: ".") && p[n - 1] == UInt8(ascii: "0") { n -= 2 }
            append(UnsafeBufferPointer(rebasing: p[0..<n]))
        }
    }

    /// Writes `s` as a JSON string with Foundation's escapes: `"` `\` `/`, and control characters as
    /// `\b \f \n \r \t` or `\u00xx`; everything else raw UTF-8 (RFC 8259 §7). Returns whether it was ASCII.
    @discardableResult
    func writeString(_ s: String) -> Bool {
        if let ascii = s.utf8.withContiguousStorageIfAvailable({ writeEscaped($0) }) { return ascii }
        var s = s
        return s.withUTF8 { writeEscaped($0) }
    }

    func writeEscaped(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = p.count
        reserve(n + 10)  // + quotes + a whole word stored for a short string
        // Short strings (most keys): one padded word, checked and stored at once.
        if n < 8, let src = p.baseAddress {
            var w: UInt64 = 0x6161_6161_6161_6161  // "a" pads: need no escape
            withUnsafeMutableBytes(of: &w) { $0.baseAddress.unsafelyUnwrapped.copyMemory(from: src, byteCount: n) }
            if !Self.wordNeedsEscape(w) {
                let out = buf + len
                out[0] = UInt8(ascii: "\"")
                UnsafeMutableRawPointer(out + 1).storeBytes(of: w, as: UInt64.self)
                out[n + 1] = UInt8(ascii: "\"")
                len += n + 2
                return w & 0x8080_8080_8080_8080 == 0
            }
        }
        // Locals, not the stored properties: a byte store through `out` could alias them, so the
        // compiler would reload them after every byte.
        var out = buf
        var o = len
        out[o] = UInt8(ascii: "\"")
        o += 1
        var highWords: UInt64 = 0
        var highBytes: UInt8 = 0
        if let src = p.baseAddress {
            var i = 0
            // Whole words while clean; then the last word, overlapping what was copied, for the tail.
            while i + 8 <= n {
                let w = UnsafeRawPointer(src + i).loadUnaligned(as: UInt64.self)
                if Self.wordNeedsEscape(w) { break }
                UnsafeMutableRawPointer(out + o).storeBytes(of: w, as: UInt64.self)
                o += 8
                highWords |= w
                i += 8
            }
            if i < n && i + 8 > n && n >= 8 {
                let w = UnsafeRawPointer(src + n - 8).loadUnaligned(as: UInt64.self)
                if !Self.wordNeedsEscape(w) {
                    UnsafeMutableRawPointer(out + o + (n - i) - 8).storeBytes(of: w, as: UInt64.self)
                    o += n - i
                    highWords |= w
                    i = n
                }
            }
            while i < n {
                // Eight bytes at a time while none needs an escape (room for all n was reserved
                // above; each escape reserves its own extra).
                if i + 8 <= n {
                    let w = UnsafeRawPointer(src + i).loadUnaligned(as: UInt64.self)
                    if !Self.wordNeedsEscape(w) {
                        UnsafeMutableRawPointer(out + o).storeBytes(of: w, as: UInt64.self)
                        o += 8
                        highWords |= w
                        i += 8
                        continue
                    }
                }
                let b = src[i]
                highBytes |= b
                if _slowPath(Self.byteNeedsEscape(b)) {
                    len = o
                    appendEscape(b)
                    reserve(n - i + 1)
                    out = buf
                    o = len
                } else {
                    out[o] = b
                    o += 1
                }
                i += 1
            }
        }
        out[o] = UInt8(ascii: "\"")
        len = o + 1
        return highWords & 0x8080_8080_8080_8080 == 0 && highBytes < 0x80
    }

    /// `"` `\` `/` or a control character.
    @inline(__always)
    static func byteNeedsEscape(_ b: UInt8) -> Bool {
        b < 0x20 || b == 0x22 || b == 0x2F || b == 0x5C
    }

    /// Whether any of the eight bytes needs an escape: a byte below 0x20, or equal to `"` `/` `\`
    /// (the "has less" and "has zero byte" tests of Bit Twiddling Hacks, exact for "any").
    @inline(__always)
    static func wordNeedsEscape(_ w: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let below20 = (w &- ones &* 0x20) & ~w
        let q = w ^ (ones &* 0x22), s = w ^ (ones &* 0x2F), bs = w ^ (ones &* 0x5C)
        let zeros = ((q &- ones) & ~q) | ((s &- ones) & ~s) | ((bs &- ones) & ~bs)
        return (below20 | zeros) & highs != 0
    }

    func appendEscape(_ b: UInt8) {
        let short: UInt8
        switch b {
        case 0x22: short = UInt8(ascii: "\"")
        case 0x5C: short = UInt8(ascii: "\\")
        case 0x2F: short = UInt8(ascii: "/")
        case 0x08: short = UInt8(ascii: "b")
        case 0x0C: short = UInt8(ascii: "f")
        case 0x0A: short = UInt8(ascii: "n")
        case 0x0D: short = UInt8(ascii: "r")
        case 0x09: short = UInt8(ascii: "t")
        default:
            let hex: StaticString = "0123456789abcdef"
            appendLiteral("\\u00")
            hex.withUTF8Buffer { h in
                append(h[Int(b >> 4)])
                append(h[Int(b & 15)])
            }
            return
        }
        append(UInt8(ascii: "\\"))
        append(short)
    }
}

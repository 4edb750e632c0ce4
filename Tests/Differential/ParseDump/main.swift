/// ParseDump: runs Flaks' RequestParser (or ResponseParser) over raw bytes and prints what it saw as
/// JSON, one line per input, for the differential test against llhttp (Tests/Differential/differential.py).
///
/// Usage:
///   ParseDump FILE...      one JSON line per file
///   ParseDump --stream     stdin is a sequence of cases, each a 4-byte big-endian length and that
///                          many bytes; one JSON line per case, in order
///   ParseDump --responses FILE... | ParseDump --stream-responses
///                          the same for upstream responses (see `dumpResponses` for the output)
///
/// Each input is given to the parser all at once, the way the server's connection loop drives it
/// (parse, drop `consumed`, parse again). Output:
///   {"status": "accepted" | "rejected" | "incomplete",
///    "error": {"code": 400, "reason": "..."}        (rejected only)
///    "pending": "head" | "body"                    (incomplete only: what the input ended inside of)
///    "requests": [{"method", "target", "version", "headers": [[name, value], ...],
///                  "body": hex, "keepAlive", "complete"}]}
/// "incomplete": no error, but the input ended inside a request (a head without its end, or head
/// bytes left unconsumed). The limits are generous (llhttp has none); see `limits` below.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FlaksHTTP

/// Much larger than anything the corpus generates, so size limits never decide an outcome.
let limits = ParseLimits(maxBuffer: 1 << 20, maxBody: 1 << 30, maxHeaderCount: 10_000)

struct Seen {
    var head: RequestHead
    var body: [UInt8] = []
    var complete = false
}

func dump(_ input: [UInt8]) -> String {
    var parser = RequestParser(limits: limits)
    var offset = 0
    var requests: [Seen] = []
    var current: Seen?
    var failure: HTTPParseError?
    var idle = 0
    loop: while true {
        let result = input.withUnsafeBytes { all in
            Result { () throws(HTTPParseError) -> ParseResult in
                try parser.parse(UnsafeRawBufferPointer(rebasing: all[offset...]))
            }
        }
        let r: ParseResult
        switch result {
        case .success(let ok): r = ok
        case .failure(let error): failure = error; break loop
        }
        switch r.event {
        case .needMoreBytes:
            offset += r.consumed
            break loop
        case .head(let head):
            current = Seen(head: head)
        case .body(let range):
            current?.body.append(contentsOf: input[(offset + range.lowerBound)..<(offset + range.upperBound)])
        case .end:
            if var c = current { c.complete = true; requests.append(c) }
            current = nil
        }
        offset += r.consumed
        idle = r.consumed == 0 ? idle + 1 : 0
        precondition(idle < 3, "parser made no progress")
    }
    if let current { requests.append(current) }

    var out = "{\"status\":"
    if let failure {
        out += "\"rejected\",\"error\":{\"code\":\(failure.status.code),\"reason\":" + json(failure.description) + "}"
    } else if requests.contains(where: { !$0.complete }) || offset < input.count {
        out += "\"incomplete\""
    } else {
        out += "\"accepted\""
    }
    // What the input ended inside of, when incomplete: a head still being collected, or a body.
    if failure == nil {
        if current != nil { out += ",\"pending\":\"body\"" } else if offset < input.count { out += ",\"pending\":\"head\"" }
    }
    out += ",\"requests\":["
    for (k, s) in requests.enumerated() {
        if k > 0 { out += "," }
        let h = s.head
        out += "{\"method\":" + json(h.method.rawValue) + ",\"target\":" + json(h.target)
        out += ",\"version\":\"\(h.version.major).\(h.version.minor)\",\"headers\":["
        for (j, f) in h.headers.fields.enumerated() {
            out += (j > 0 ? "," : "") + "[" + json(f.name) + "," + json(f.value) + "]"
        }
        out += "],\"body\":\"" + hex(s.body) + "\",\"keepAlive\":\(h.keepAlive),\"complete\":\(s.complete)}"
    }
    return out + "]}"
}

/// A JSON string literal: quotes, backslashes and control characters escaped; other text as UTF-8.
func json(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where u.value < 0x20 || u.value == 0x7F:
            let digits = Array("0123456789abcdef")
            out += "\\u00" + String(digits[Int(u.value >> 4)]) + String(digits[Int(u.value & 15)])
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

/// Reads exactly `n` bytes from `file`, or nil at end of input.
func readExactly(_ file: UnsafeMutablePointer<FILE>, _ n: Int) -> [UInt8]? {
    var buf = [UInt8](repeating: 0, count: n)
    if n == 0 { return buf }
    let got = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, n, file) }
    return got == n ? buf : nil
}

/// Prints to standard error and exits with status 2.
func fail(_ message: String) -> Never {
    var m = "ParseDump: " + message + "\n"
    m.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
let responses = args.first == "--responses" || args.first == "--stream-responses"
/// The dump for one input, in the chosen mode.
func dumpOne(_ input: [UInt8]) -> String { responses ? dumpResponses(input) : dump(input) }
if args == ["--stream"] || args == ["--stream-responses"] {
    guard let stream = fdopen(0, "rb") else { fail("cannot read standard input") }
    while let len = readExactly(stream, 4) {
        let n = len.reduce(0) { $0 << 8 | Int($1) }
        guard let input = readExactly(stream, n) else { fail("truncated stream") }
        print(dumpOne(input))
    }
} else if args.first == "--responses" || !args.isEmpty && !args.contains(where: { $0.hasPrefix("-") }) {
    if responses { args.removeFirst() }
    for path in args {
        guard let f = fopen(path, "rb") else { fail("cannot open \(path)") }
        var input: [UInt8] = []
        while let b = readExactly(f, 1) { input += b }
        fclose(f)
        print(dumpOne(input))
    }
} else {
    fail("usage: ParseDump [--responses] FILE... | ParseDump --stream | --stream-responses < length-prefixed cases")
}

// Feeds libFuzzer's input to the TLS-facing read path of a server `TLSSession` and checks that
// garbage never crashes it, never completes a handshake, never makes it produce unbounded output,
// and that feeding the same bytes whole, split, or one byte at a time ends the same way.
//
// The first input byte picks the mode:
//   even: a fresh session gets the rest as its first bytes (ClientHello, records, garbage);
//   odd:  a session that finished a real handshake with an in-process OpenSSL client gets the
//         rest as records after it (what a client sends once connected), read with readPlaintext.
// `FuzzTLS --write-seeds DIR` writes real ClientHellos and records as a seed corpus.
#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import FlaksTLS

/// One server context for the whole run: a self-signed ECDSA certificate for fuzz.test.
let context: TLSServerContext = {
    do {
        let (cert, key) = try CertificateFactory.makeSelfSigned(names: ["fuzz.test"], now: 1_767_225_600)
        let store = try CertificateStore(hosts: [.init(index: 0, names: ["fuzz.test"], certificate: try ServerCertificate(chain: [cert], key: key))])
        return try TLSServerContext(store: store, tickets: try TicketKeyRing())
    } catch {
        fatalError("fuzz setup: \(error)")
    }
}()

/// An OpenSSL client over memory BIOs (no verification: the fuzz target is the server).
final class MiniClient {
    let ctx: OpaquePointer
    let ssl: OpaquePointer
    let rbio: OpaquePointer
    let wbio: OpaquePointer

    init(version: Int32 = TLS1_3_VERSION, serverName: String? = "fuzz.test", alpn: Bool = true) {
        guard let c = SSL_CTX_new(TLS_client_method()) else { fatalError("client setup") }
        _ = copenssl_ctx_set_max_proto(c, version)
        guard let s = SSL_new(c), let r = BIO_new(BIO_s_mem()), let w = BIO_new(BIO_s_mem()) else { fatalError("client setup") }
        ctx = c; ssl = s; rbio = r; wbio = w
        SSL_set_bio(s, r, w)
        SSL_set_connect_state(s)
        if let serverName { _ = copenssl_set_tlsext_host_name(s, serverName) }
        if alpn {
            let wire: [UInt8] = [8] + Array("http/1.1".utf8)
            _ = SSL_set_alpn_protos(s, wire, UInt32(wire.count))
        }
    }

    deinit { SSL_free(ssl); SSL_CTX_free(ctx) }

    func step() -> Bool { ERR_clear_error(); let r = SSL_do_handshake(ssl) == 1; ERR_clear_error(); return r }

    func takeOutput() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buf.withUnsafeMutableBytes { BIO_read(wbio, $0.baseAddress, Int32($0.count)) }
            if n <= 0 { return out }
            out += buf[0..<Int(n)]
        }
    }

    func feed(_ bytes: [UInt8]) { if !bytes.isEmpty { _ = bytes.withUnsafeBytes { BIO_write(rbio, $0.baseAddress, Int32($0.count)) } } }

    func write(_ bytes: [UInt8]) {
        var n = 0
        _ = bytes.withUnsafeBytes { SSL_write_ex(ssl, $0.baseAddress, $0.count, &n) }
    }
}

/// A session that completed a full handshake with a `MiniClient`.
func establishedSession() -> (TLSSession, MiniClient) {
    guard let session = try? context.makeSession() else { fatalError("session") }
    let client = MiniClient()
    for _ in 0..<20 {
        let done = client.step()
        session.feed(client.takeOutput())
        let r = session.handshake()
        client.feed(session.takeOutput())
        if done, case .complete = r { return (session, client) }
        if case .failed(let f) = r { fatalError("handshake failed: \(f)") }
    }
    fatalError("handshake did not finish")
}

/// How a run ended, for comparing the ways of feeding.
enum Outcome: Equatable {
    case wantsInput
    case failed(TLSFailure.Kind)
}

/// Output a fresh session may produce for any ClientHello: its flight (certificate, signatures) or an alert.
let maxFlight = 16 * 1024

func runFresh(_ input: [UInt8], step: Int) -> Outcome {
    guard let session = try? context.makeSession() else { fatalError("session") }
    var offset = 0
    var result = TLSSession.HandshakeResult.wantsInput
    while offset < input.count {
        let piece = Array(input[offset..<min(input.count, offset + step)])
        let capacity = session.inputCapacity
        let taken = session.feed(piece)
        precondition(taken <= capacity && taken <= piece.count, "feed took more than allowed")
        if taken == 0 { break }   // input bound reached without the session consuming: stop, as the loop would
        offset += taken
        result = session.handshake()
        precondition(session.pendingOutput <= maxFlight, "unbounded output")
        _ = session.takeOutput()
        if case .failed = result { break }
    }
    switch result {
    case .wantsInput: return .wantsInput
    case .failed(let f): return .failed(f.kind)
    case .complete: preconditionFailure("garbage completed a handshake")
    }
}

func runEstablished(_ input: [UInt8]) {
    let (session, _) = establishedSession()
    _ = session.takeOutput()
    var plain = [UInt8](repeating: 0, count: 4096)
    var offset = 0
    var steps = 0
    while offset < input.count, steps < 100_000 {
        steps += 1
        let taken = session.feed(Array(input[offset..<min(input.count, offset + 1000)]))
        offset += taken
        var ended = false
        reading: while steps < 100_000 {
            steps += 1
            switch plain.withUnsafeMutableBytes({ session.readPlaintext(into: $0) }) {
            case .bytes(let n): precondition(n > 0 && n <= plain.count, "read past the buffer")
            case .wantsInput: break reading
            case .closed, .failed: ended = true; break reading
            }
        }
        precondition(session.pendingOutput <= maxFlight, "unbounded output")
        if ended || taken == 0 { break }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let mode = data.first else { return 0 }
    let input = Array(data.dropFirst())
    if mode & 1 == 1 {
        runEstablished(input)
        return 0
    }
    let whole = runFresh(input, step: Int.max)
    let split = runFresh(input, step: Int(mode >> 1) + 1)
    precondition(whole == split, "whole \(whole) and split \(split) disagree")
    if input.count <= 4096 {
        let bytewise = runFresh(input, step: 1)
        precondition(whole == bytewise, "whole \(whole) and bytewise \(bytewise) disagree")
    }
    return 0
}

/// Writes seeds: real ClientHellos (TLS 1.3 and 1.2, with and without SNI/ALPN), a plain HTTP
/// request, and application records from an established connection.
func writeSeeds(_ dir: String) {
    func save(_ name: String, _ bytes: [UInt8]) {
        guard let f = fopen(dir + "/" + name, "wb") else { fatalError("cannot write \(dir)/\(name)") }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }
    save("tls13-clienthello", [0] + { let c = MiniClient(); _ = c.step(); return c.takeOutput() }())
    save("tls12-clienthello", [2] + { let c = MiniClient(version: TLS1_2_VERSION); _ = c.step(); return c.takeOutput() }())
    save("clienthello-no-sni-no-alpn", [4] + { let c = MiniClient(serverName: nil, alpn: false); _ = c.step(); return c.takeOutput() }())
    save("plain-http", [0] + Array("GET / HTTP/1.1\r\nHost: fuzz.test\r\n\r\n".utf8))
    // Records a client sends after its handshake, replayed against another session's keys.
    let (_, client) = establishedSession()
    client.write(Array("GET / HTTP/1.1\r\nHost: fuzz.test\r\n\r\n".utf8))
    save("appdata-record", [1] + client.takeOutput())
}

/// libFuzzer's driver entry (see FuzzParser).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt) -> CInt

@_cdecl("FuzzTLS_main")
public func fuzzTLSMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    if argc == 3, let a = argv?[1], String(cString: a) == "--write-seeds", let d = argv?[2] {
        writeSeeds(String(cString: d))
        return 0
    }
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { data, size in fuzz(data, size) }
}

// Feeds libFuzzer's input to the ACME client as a hostile CA's responses (status, headers, JSON
// bodies, problem documents, PEM) and traps when an invariant breaks: the order machine must end
// (finished or failed) within a bounded number of steps for the responses given, withdraw every
// challenge response it published, never ask to sleep past maxPollDelay, never send to a
// non-https URL; the JSON codec must round-trip what it accepts; problem documents, timestamps,
// Retry-After, URLs and ARI windows must never trap. The input format is in ACMEFuzzHarness.swift
// (shared with ACMEFuzzReplayTests through a symlink).
import FlaksACME

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Array(UnsafeRawBufferPointer(start: start, count: count))
    let broken = ACMEFuzzHarness.run(data) + ACMEFuzzHarness.codecs(data) + ACMEFuzzHarness.codecs(Array(data.dropFirst()))
    if !broken.isEmpty { fatalError("ACME invariant broken: \(broken)") }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer, Int) -> CInt) -> CInt

@_cdecl("FuzzACME_main")
public func fuzzACMEMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { data, size in fuzz(data, size) }
}

@testable import FlaksServer
import Testing

/// The limits of answers left in a unix socket (`UpstreamConnection.peekReads`) and of the loop's
/// FastCGI read buffers, each one under and at (or one over) its edge. Over real sockets:
/// FastCGIExecutorTests (150 answers on one connection, a responder with a small send buffer).
struct UpstreamPeekRulesTests {
    @Test func bytesLeftAreTakenOutAt16KiBOr32Reads() {
        let bytes = UpstreamConnection.consumeAfterBytes, reads = UpstreamConnection.consumeAfterReads
        #expect(bytes == 16 * 1024 && reads == 32)
        #expect(!UpstreamConnection.takesOut(bytes: 0, reads: 0))
        #expect(!UpstreamConnection.takesOut(bytes: bytes - 1, reads: reads - 1))
        #expect(UpstreamConnection.takesOut(bytes: bytes, reads: 1))
        #expect(UpstreamConnection.takesOut(bytes: 1, reads: reads))
        #expect(UpstreamConnection.takesOut(bytes: bytes + 1, reads: reads + 1))
    }

    @Test func peekingNeedsADefaultSendBufferOf128KiB() {
        let least = UpstreamConnection.peekMinimumSendBuffer
        #expect(least == 128 * 1024)
        #expect(!UpstreamConnection.peeks(sendBuffer: least - 1))
        #expect(UpstreamConnection.peeks(sendBuffer: least))
        #expect(UpstreamConnection.peeks(sendBuffer: 212_992), "Linux's default wmem_default")
    }

    @Test func theBufferPoolKeepsAtMost16IdleBuffers() {
        let pool = FastCGIBufferPool()
        #expect(pool.keep == 16)
        let taken = (0..<17).map { _ in pool.take() }
        #expect(taken.allSatisfy { $0.count == FastCGIRequest.bufferSize })
        for b in taken.prefix(15) { pool.put(b) }
        #expect(pool.idleCount == 15)
        pool.put(taken[15])
        #expect(pool.idleCount == 16, "at the limit: kept")
        pool.put(taken[16])
        #expect(pool.idleCount == 16, "one over: freed")
        let again = pool.take()
        #expect(taken.contains { $0.baseAddress == again.baseAddress }, "an idle buffer is reused")
        pool.put(again)
        pool.removeAll()
        #expect(pool.idleCount == 0)
    }
}

import FlaksHandlers
import FlaksProxy

/// Per-upstream counters for `handler: metrics` and `handler: status`: requests answered, failures
/// (refused, timed out, bad answers), and a histogram of the time to the answer's head. Written by
/// the loops under one lock (one short critical section per proxied request).
final class ProxyMetrics: Sendable {
    struct Counters: Sendable {
        var requests = 0
        var failures = 0
        var buckets = [Int](repeating: 0, count: LoopMetrics.bucketNanos.count + 1)
        var sumNanos: UInt64 = 0
    }
    // protected by its lock
    private let table = Locked<[String: Counters]>([:])

    func record(upstream: String, nanos: UInt64, failed: Bool) {
        table.withLock { t in
            var c = t[upstream] ?? Counters()
            if failed {
                c.failures += 1
            } else {
                c.requests += 1
                var i = 0
                while i < LoopMetrics.bucketNanos.count && nanos > LoopMetrics.bucketNanos[i] { i += 1 }
                c.buckets[i] += 1
                c.sumNanos &+= nanos
            }
            t[upstream] = c
        }
    }

    var snapshot: [String: Counters] { table.withLock { $0 } }
}

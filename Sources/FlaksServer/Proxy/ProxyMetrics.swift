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

        mutating func record(nanos: UInt64, failed: Bool) {
            if failed {
                failures += 1
            } else {
                requests += 1
                var i = 0
                while i < LoopMetrics.bucketNanos.count && nanos > LoopMetrics.bucketNanos[i] { i += 1 }
                buckets[i] += 1
                sumNanos &+= nanos
            }
        }
    }
    // protected by its lock
    private let table = Locked<[String: Counters]>([:])

    func record(upstream: String, nanos: UInt64, failed: Bool) {
        // In place: a copy out and back copied the histogram array on every proxied request
        // (~590 instructions now).
        table.withLock { t in t[upstream, default: Counters()].record(nanos: nanos, failed: failed) }
    }

    var snapshot: [String: Counters] { table.withLock { $0 } }
}

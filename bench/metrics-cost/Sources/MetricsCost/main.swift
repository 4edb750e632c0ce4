import Metrics
import Prometheus
import Synchronization

// What one request's metrics cost: swift-metrics + swift-prometheus (a counter with host and
// status-class labels, a duration histogram) against Flaks' per-loop counters (one lock, one
// dictionary update, one bucket search).
let registry = PrometheusCollectorRegistry()
MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
let hosts = ["a.test", "b.test", "c.test"]
let n = 2_000_000
let clock = ContinuousClock()
func ns(_ d: Duration) -> Double { Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9 }

var t = clock.now
for i in 0..<n {
    Counter(label: "flaks_requests_total", dimensions: [("host", hosts[i % 3]), ("class", "2xx")]).increment()
    Timer(label: "flaks_request_duration_seconds", dimensions: []).recordNanoseconds(Int64(1000 + i % 5000))
}
let swiftMetrics = ns(clock.now - t) / Double(n)

struct LoopMetrics {
    static let bounds: [UInt64] = [500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000]
    var byHost: [String: [Int]] = [:]
    var buckets = [Int](repeating: 0, count: 9)
    var sum: UInt64 = 0, count = 0
    mutating func record(host: String, status: Int, nanos: UInt64) {
        byHost[host, default: [0, 0, 0, 0, 0]][status / 100 - 1] += 1
        var k = 0
        while k < Self.bounds.count && nanos > Self.bounds[k] { k += 1 }
        buckets[k] += 1; sum &+= nanos; count += 1
    }
}
let m = Mutex(LoopMetrics())
t = clock.now
for i in 0..<n { m.withLock { $0.record(host: hosts[i % 3], status: 200, nanos: UInt64(1000 + i % 5000)) } }
let own = ns(clock.now - t) / Double(n)
print("swift-metrics + swift-prometheus: \(Int(swiftMetrics)) ns per request; per-loop counters: \(Int(own)) ns per request; ratio \(Int(swiftMetrics / own))x")

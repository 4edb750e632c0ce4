// Route lookup cost against the number of routes: builds trees of 10, 1,000 and 10,000 routes
// (exact paths, patterns and prefixes) and times lookups of paths spread over them.
// Run: swift run -c release RouteBench
import FlaksRouting
#if canImport(Glibc)
import Glibc
#endif

func makeTree(routes n: Int) -> (RouteTree<Int>, [String]) {
    var routes: [(path: String, target: Int)] = []
    var probes: [String] = []
    for i in 0..<n {
        switch i % 3 {
        case 0:
            routes.append(("/section\(i)/page", i)); probes.append("/section\(i)/page")
        case 1:
            routes.append(("/users\(i)/<int:id>/posts", i)); probes.append("/users\(i)/42/posts")
        default:
            routes.append(("/static\(i)/", i)); probes.append("/static\(i)/css/site.css")
        }
    }
    var b = RouteTreeBuilder<Int>()
    do { try b.addHost(names: ["*"], routes: routes) } catch { fatalError("bench routes are valid: \(error)") }
    return (b.build(), probes)
}

func measure(routes n: Int, lookups: Int) -> Double {
    let (tree, probes) = makeTree(routes: n)
    var found = 0
    let clock = ContinuousClock()
    let start = clock.now
    for i in 0..<lookups {
        if case .found = tree.lookup(host: "example.test", path: probes[i % probes.count]) { found += 1 }
    }
    let elapsed = clock.now - start
    precondition(found == lookups, "every probe must match")
    let (s, a) = elapsed.components
    return (Double(s) * 1e9 + Double(a) / 1e9) / Double(lookups)
}

let lookups = 1_000_000
var results: [(Int, Double)] = []
for n in [10, 1_000, 10_000] {
    _ = measure(routes: n, lookups: 10_000)   // warm up
    let ns = measure(routes: n, lookups: lookups)
    results.append((n, ns))
    print("routes \(n): \(Int(ns.rounded())) ns per lookup")
}
if let first = results.first, let last = results.last {
    print("ratio 10,000 routes / 10 routes: \((last.1 / first.1 * 100).rounded() / 100)  (linear growth would be 1000)")
}

// Route lookup cost against the number of routes: builds trees of 10, 1,000 and 10,000 routes
// (exact paths, patterns and prefixes) and times lookups of paths spread over them.
// Run: swift run -c release RouteBench. Times are this thread's CPU time per lookup.
// Heap allocations per lookup are printed too when bench/malloc_count.c is preloaded (see there).
import FlaksRouting
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Like FlaksServer's `MountedRoute`: the server's targets are final classes.
final class Mounted: Sendable {
    let id: Int
    init(id: Int) { self.id = id }
}

/// Like FlaksServer's `Site`: the tree is a `let` of a shared final class.
final class SiteBox<Target: Sendable>: Sendable {
    let tree: RouteTree<Target>
    init(_ tree: RouteTree<Target>) { self.tree = tree }
}

/// The probes of one kind of route, one per route of that kind.
struct Probes {
    var all: [String] = []
    var exact: [String] = []
    var pattern: [String] = []
    var prefix: [String] = []
}

func makeRoutes(_ n: Int) -> ([(path: String, id: Int)], Probes) {
    var routes: [(path: String, id: Int)] = []
    var p = Probes()
    for i in 0..<n {
        switch i % 3 {
        case 0:
            let probe = "/section\(i)/page"
            routes.append(("/section\(i)/page", i)); p.exact.append(probe); p.all.append(probe)
        case 1:
            let probe = "/users\(i)/42/posts"
            routes.append(("/users\(i)/<int:id>/posts", i)); p.pattern.append(probe); p.all.append(probe)
        default:
            let probe = "/static\(i)/css/site.css"
            routes.append(("/static\(i)/", i)); p.prefix.append(probe); p.all.append(probe)
        }
    }
    return (routes, p)
}

func build<T: Sendable>(_ routes: [(path: String, id: Int)], _ make: (Int) -> T) -> RouteTree<T> {
    var b = RouteTreeBuilder<T>()
    do { try b.addHost(names: ["*"], routes: routes.map { ($0.path, make($0.id)) }) } catch {
        fatalError("bench routes are valid: \(error)")
    }
    return b.build()
}

typealias CountFn = @convention(c) () -> UInt64
let mallocCount: CountFn? = dlsym(nil, "flaks_malloc_count").map { unsafeBitCast($0, to: CountFn.self) }

/// Nanoseconds per lookup and, when counted, heap allocations per lookup.
func measure<T: Sendable>(_ site: SiteBox<T>, hosts: [String?], paths: [String], lookups: Int) -> (ns: Double, allocs: Double?) {
    var found = 0
    let before = mallocCount?()
    let start = cpuNanoseconds()
    for i in 0..<lookups {
        if case .found = site.tree.lookup(host: hosts[i % hosts.count], path: paths[i % paths.count]) { found += 1 }
    }
    let elapsed = cpuNanoseconds() - start
    let after = mallocCount?()
    precondition(found == lookups, "every probe must match")
    let allocs = before.flatMap { b in after.map { Double($0 - b) / Double(lookups) } }
    return (Double(elapsed) / Double(lookups), allocs)
}

/// CPU time of this thread: the machine is shared, and time spent descheduled is not ours.
func cpuNanoseconds() -> Int {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return t.tv_sec * 1_000_000_000 + t.tv_nsec
}

/// Best of three runs (the machine is shared), after a warm-up.
func best<T: Sendable>(_ site: SiteBox<T>, hosts: [String?] = ["example.test"], _ paths: [String],
                       lookups: Int = 1_000_000) -> String {
    _ = measure(site, hosts: hosts, paths: paths, lookups: 10_000)
    var runs: [(ns: Double, allocs: Double?)] = []
    for _ in 0..<3 { runs.append(measure(site, hosts: hosts, paths: paths, lookups: lookups)) }
    let ns = runs.map(\.ns).min() ?? 0
    let allocs = runs.first?.allocs.map { " (\(($0 * 100).rounded() / 100) allocs)" } ?? ""
    return "\(Int(ns.rounded())) ns\(allocs)"
}

// `RouteBench exact|prefix|param [routes [lookups]]`: only that case, for `perf record` or
// `valgrind --tool=callgrind` (instructions per lookup: the difference of two lookup counts).
let args = Array(CommandLine.arguments.dropFirst())
if let only = args.first {
    let (routes, probes) = makeRoutes(args.count > 1 ? Int(args[1]) ?? 10 : 10)
    let site = SiteBox(build(routes) { Mounted(id: $0) })
    let paths = switch only { case "exact": probes.exact; case "prefix": probes.prefix; default: probes.pattern }
    print("\(only): \(best(site, paths, lookups: args.count > 2 ? Int(args[2]) ?? 10_000_000 : 10_000_000))")
    exit(0)
}

var mixed: [(Int, Double)] = []
for n in [10, 1_000, 10_000] {
    let (routes, probes) = makeRoutes(n)
    let intSite = SiteBox(build(routes) { $0 })
    _ = measure(intSite, hosts: ["example.test"], paths: probes.all, lookups: 10_000)   // warm up
    let ns = measure(intSite, hosts: ["example.test"], paths: probes.all, lookups: 1_000_000).ns
    mixed.append((n, ns))
    print("routes \(n): \(Int(ns.rounded())) ns per lookup")
    let site = SiteBox(build(routes) { Mounted(id: $0) })
    print("  class target, host \"*\": exact \(best(site, probes.exact)), prefix \(best(site, probes.prefix)), "
          + "int param \(best(site, probes.pattern))")
}
if let first = mixed.first, let last = mixed.last {
    print("ratio 10,000 routes / 10 routes: \((last.1 / first.1 * 100).rounded() / 100)  (linear growth would be 1000)")
}

// Host resolution: exact names, a wildcard and the default, with the Host header as sent.
var hb = RouteTreeBuilder<Mounted>()
do {
    try hb.addHost(names: ["example.com", "www.example.com"], routes: [("/about", Mounted(id: 0))])
    try hb.addHost(names: ["*.example.com"], routes: [("/about", Mounted(id: 1))])
    try hb.addHost(names: ["*"], routes: [("/about", Mounted(id: 2))])
} catch { fatalError("bench hosts are valid: \(error)") }
let hostSite = SiteBox(hb.build())
print("hosts, exact path: \"example.com\" \(best(hostSite, hosts: ["example.com"], ["/about"])), "
      + "\"a.example.com\" \(best(hostSite, hosts: ["a.example.com"], ["/about"])), "
      + "\"other.org\" \(best(hostSite, hosts: ["other.org"], ["/about"])), "
      + "\"Example.COM:8080\" \(best(hostSite, hosts: ["Example.COM:8080"], ["/about"]))")

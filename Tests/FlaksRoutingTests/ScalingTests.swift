import Testing
@testable import FlaksRouting

/// Lookup must not get slower as routes are added: count the trie nodes one lookup enters
/// (deterministic, no timing) for trees of 10, 1,000 and 10,000 routes.
@Suite struct ScalingTests {
    /// `n` routes of every kind: exact, patterns under distinct literals, patterns after a
    /// parameter, and prefix mounts.
    static func bigTree(_ n: Int) throws -> RouteTree<String> {
        var paths: [String] = ["/"]
        for i in 0..<n / 4 {
            paths.append("/page\(i)")
            paths.append("/users\(i)/<int:id>/profile")
            paths.append("/<tenant>/report\(i)")
            paths.append("/static\(i)/")
        }
        return try tree([(["*"], paths)])
    }

    static let probes = ["/page1", "/users1/42/profile", "/acme/report1", "/static1/css/site.css",
                         "/nowhere/at/all", "/users1/x/profile"]

    @Test func costIsIndependentOfRouteCount() throws {
        var costs: [[Int]] = []
        for n in [10, 1_000, 10_000] {
            let t = try Self.bigTree(n)
            costs.append(Self.probes.map { t.lookupCost(host: nil, path: $0) })
        }
        #expect(costs[0] == costs[1])
        #expect(costs[1] == costs[2])
        #expect(costs[2].allSatisfy { $0 <= 6 }, "costs: \(costs[2])")
    }

    @Test func bigTreeStillAnswersCorrectly() throws {
        let t = try Self.bigTree(10_000)
        #expect(outcome(t, "/page2499") == "/page2499||")
        #expect(outcome(t, "/users2499/7/profile") == "/users2499/<int:id>/profile||id=7")
        #expect(outcome(t, "/acme/report2499") == "/<tenant>/report2499||tenant=acme")
        #expect(outcome(t, "/static2499/a/b") == "/static2499/|a/b|")
        #expect(outcome(t, "/users2/x/profile") == "/|users2/x/profile|")
    }
}

/// What applying a list of service definitions does to the services running: the diff of a reload,
/// by name and by value. Pure.
struct ServicePlan: Equatable {
    /// New names: started.
    var start: [ServiceSpec] = []
    /// Same name, different definition: rolled to the new one.
    var roll: [ServiceSpec] = []
    /// Names no longer listed: stopped.
    var stop: [String] = []
    /// Same name, same definition: left alone (same processes).
    var keep: [String] = []

    /// Compares `running` (by name) with `wanted`. A name listed twice in `wanted` keeps its first
    /// definition (validation refuses duplicates before this).
    static func diff(running: [String: ServiceSpec], wanted: [ServiceSpec]) -> ServicePlan {
        var plan = ServicePlan()
        var seen = Set<String>()
        for spec in wanted where seen.insert(spec.name).inserted {
            if let old = running[spec.name] {
                if old == spec { plan.keep.append(spec.name) } else { plan.roll.append(spec) }
            } else {
                plan.start.append(spec)
            }
        }
        plan.stop = running.keys.filter { !seen.contains($0) }.sorted()
        return plan
    }

    var isEmpty: Bool { start.isEmpty && roll.isEmpty && stop.isEmpty }

    /// One line per change, for the reload message.
    var summary: [String] {
        start.map { "service \($0.name): started" }
            + roll.map { "service \($0.name): rolling to its new definition" }
            + stop.map { "service \($0): stopped" }
    }
}

/// The outcome of `RouteTree.lookup(host:path:)`.
public enum RouteLookup<Target: Sendable>: Sendable {
    case found(RouteMatch<Target>)
    /// No host matched and there is no default host (`*`): the server answers 421 (RFC 9110 §15.5.20).
    case unknownHost
    /// The host matched but none of its routes did.
    case notFound
}

/// A matched route with what the path told about it.
public struct RouteMatch<Target: Sendable>: Sendable {
    public var target: Target
    /// The route's path as declared (`/static/`, `/u/<int:id>`).
    public var routePath: String
    /// For prefix mounts: the rest of the path after the prefix (no leading "/"); "" otherwise.
    /// For `<path:x>` patterns the value is in `parameters`.
    public var remainder: String
    /// Pattern parameters in declaration order; values are the (already decoded) path segments.
    public var parameters: [(name: String, value: String)]

    @inlinable
    public init(target: Target, routePath: String, remainder: String = "",
                parameters: [(name: String, value: String)] = []) {
        self.target = target; self.routePath = routePath; self.remainder = remainder; self.parameters = parameters
    }

    /// The value of the parameter `name`, or nil.
    public func parameter(_ name: String) -> String? {
        parameters.first { $0.name == name }?.value
    }
}

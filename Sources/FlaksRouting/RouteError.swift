/// A host name or path pattern the route tree cannot take. The message says what is wrong and
/// what was expected; the manifest loader adds file, line and column.
public struct RouteError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

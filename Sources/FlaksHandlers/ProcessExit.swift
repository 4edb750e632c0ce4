/// How a child process ended.
public enum ProcessExit: Sendable, Equatable, CustomStringConvertible {
    case code(Int32)
    case signal(Int32)
    /// Reaped by someone else; the status is lost.
    case unknown
    public var description: String {
        switch self {
        case .code(let c): "exited with status \(c)"
        case .signal(let s): "killed by signal \(s)"
        case .unknown: "reaped elsewhere (status unknown)"
        }
    }
}

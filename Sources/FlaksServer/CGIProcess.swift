import FlaksHandlers

// PLACEHOLDER until the CGI runner lands: answers 501.
/// Runs a CGI script for a connection.
enum CGIProcess {
    static func start(_ invocation: CGIInvocation, for connection: Connection) {
        connection.send(ErrorPage.response(.notImplemented, detail: "CGI is not available yet"))
    }
}

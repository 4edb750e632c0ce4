/// A producer of a streamed response body (a CGI script's stdout), driven on the connection's loop.
protocol StreamSource: AnyObject {
    /// Everything queued was written: produce more.
    func outputDrained()
    /// The connection closed (client gone, timeout, shutdown): stop producing and clean up.
    func connectionClosed()
}

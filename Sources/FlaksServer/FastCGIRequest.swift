import FlaksHandlers
import FlaksHTTP

/// Runs one request on a FastCGI responder (php-fpm) from the connection's loop. (The executor
/// lands next; until then a FastCGI route answers 502.)
final class FastCGIRequest {
    static func start(_ invocation: FastCGIInvocation, method: HTTPMethod, sink: any ResponseSink, loop: EventLoop) {
        loop.server.logger.error("fastcgi \(invocation.scriptPath): no FastCGI executor in this build")
        sink.send(ErrorPage.response(.badGateway))
    }
}

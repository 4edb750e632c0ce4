import Hummingbird
import NIOPosix

/// The payload of the TechEmpower JSON test.
struct Message: ResponseEncodable { let message: String }

// Usage: HummingbirdJSON PORT — one NIO event loop thread (the script pins the process to one core).
let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 18091
let router = Router()
router.get("json") { _, _ in Message(message: "Hello, World!") }
let app = Application(router: router,
                      configuration: .init(address: .hostname("127.0.0.1", port: port)),
                      eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: 1)))
try await app.runService()

import Testing
@testable import FlaksServer

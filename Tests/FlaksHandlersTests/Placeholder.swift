import Testing
@testable import FlaksHandlers

import Testing
@testable import FlaksConfig

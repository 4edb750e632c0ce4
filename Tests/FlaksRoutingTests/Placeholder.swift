import Testing
@testable import FlaksRouting

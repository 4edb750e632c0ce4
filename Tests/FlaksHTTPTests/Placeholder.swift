import Testing
@testable import FlaksHTTP

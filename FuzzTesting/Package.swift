// swift-tools-version:6.0
// libFuzzer targets for the request and response parsers and the FastCGI decoder (FlaksHTTP and
// FlaksFastCGI are compiled from ../Sources through symlinks, so this package needs nothing else).
// Build and run:
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/debug/FuzzParser ../Tests/FlaksHTTPTests/Corpus -max_total_time=60
//   .build/debug/FuzzResponseParser ../Tests/FlaksHTTPTests/ResponseCorpus -max_total_time=60
//   .build/debug/FuzzFastCGI ../Tests/FlaksFastCGITests/Corpus -max_total_time=60   (scripts/fuzz-fastcgi.sh)
import PackageDescription

let package = Package(
    name: "FlaksFuzzTesting",
    targets: [
        .target(name: "FlaksHTTP", swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzParser", dependencies: ["FlaksHTTP"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "FlaksFastCGI", swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzFastCGI", dependencies: ["FlaksFastCGI"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzResponseParser", dependencies: ["FlaksHTTP"], swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)

// swift-tools-version:6.0
// libFuzzer targets. The targets under test are compiled from ../Sources through symlinks, so
// this package needs nothing else (FuzzTLS links the system OpenSSL through COpenSSL).
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/debug/FuzzParser ../Tests/FlaksHTTPTests/Corpus -max_total_time=60
//   .build/debug/FuzzTLS ../Tests/FlaksTLSTests/Corpus -max_total_time=60      (scripts/fuzz-tls.sh)
import PackageDescription

let package = Package(
    name: "FlaksFuzzTesting",
    targets: [
        .target(name: "FlaksHTTP", swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzParser", dependencies: ["FlaksHTTP"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "FlaksRouting", dependencies: ["FlaksHTTP"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "FlaksTLS", dependencies: ["COpenSSL", "FlaksRouting"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzTLS", dependencies: ["FlaksTLS", "COpenSSL"], swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)

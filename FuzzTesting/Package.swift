// swift-tools-version:6.0
// libFuzzer targets. The code under test is compiled from ../Sources through symlinks, so this
// package needs nothing else (FuzzTLS links the system OpenSSL through COpenSSL: libssl-dev).
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/debug/FuzzParser ../Tests/FlaksHTTPTests/Corpus -max_total_time=60          (scripts/fuzz.sh)
//   .build/debug/FuzzResponseParser ../Tests/FlaksHTTPTests/ResponseCorpus -max_total_time=60   (scripts/fuzz.sh)
//   .build/debug/FuzzFastCGI ../Tests/FlaksFastCGITests/Corpus -max_total_time=60      (scripts/fuzz-fastcgi.sh)
//   .build/debug/FuzzTLS ../Tests/FlaksTLSTests/Corpus -max_total_time=60              (scripts/fuzz-tls.sh)
//   .build/debug/FuzzACME ../Tests/FlaksACMETests/Corpus -max_total_time=60            (scripts/fuzz-acme.sh)
import PackageDescription

let package = Package(
    name: "FlaksFuzzTesting",
    targets: [
        .target(name: "FlaksHTTP", swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzParser", dependencies: ["FlaksHTTP"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "FlaksFastCGI", swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzFastCGI", dependencies: ["FlaksFastCGI"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzResponseParser", dependencies: ["FlaksHTTP"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "FlaksRouting", dependencies: ["FlaksHTTP"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "FlaksTLS", dependencies: ["COpenSSL", "FlaksRouting", "FlaksSync"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzTLS", dependencies: ["FlaksTLS", "COpenSSL"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "FlaksSync", swiftSettings: [.swiftLanguageMode(.v6)]),
        .target(name: "FlaksACME", dependencies: ["FlaksTLS", "FlaksHTTP", "COpenSSL", "FlaksSync"], swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "FuzzACME", dependencies: ["FlaksACME", "FlaksTLS"], swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)

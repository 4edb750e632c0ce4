// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

/// This directory: the linker is given an absolute path to the hot-function order file.
let packageRoot = String(#filePath.dropLast("/Package.swift".count))

let package = Package(
    name: "Flaks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "flaks", targets: ["FlaksCLI"]),
        .library(name: "Flaks", targets: ["Flaks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // Pure HTTP/1.1: values, incremental parser, serializer. No I/O, no Foundation.
        .target(name: "FlaksHTTP", swiftSettings: strict),
        // Pure FastCGI client side: record codec and the per-request exchange state machine.
        // No I/O, no clock, no Foundation (docs/fastcgi.md).
        .target(name: "FlaksFastCGI", swiftSettings: strict),
        // The manifest: model, loader, validation. FlaksAccess gives the typed access rules
        // (`CIDR`, `AddressList`, `RateLimit`) so `allow`, `trusted_proxies` and `rate` are checked once.
        .target(name: "FlaksConfig",
                dependencies: ["FlaksHTTP", "FlaksRouting", "FlaksAccess", .product(name: "Yams", package: "Yams")],
                swiftSettings: strict),
        // Host table + path trie, generic over the route target.
        .target(name: "FlaksRouting", dependencies: ["FlaksHTTP"], swiftSettings: strict),
        // C shims for Linux calls that Glibc imports badly.
        .target(name: "CFlaksLinux"),
        // The shared-state primitive (`Locked`, a pthread mutex TSan understands), below every target that needs it.
        .target(name: "FlaksSync", swiftSettings: strict),
        // OpenSSL 3 (Debian's libssl-dev): TLS, and the digests and signatures the rest needs.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // Compression libraries (Debian's zlib1g-dev, libbrotli-dev, libzstd-dev); each package has the
        // static archives the fully static release link needs. See docs/compression.md.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CBrotli", pkgConfig: "libbrotlienc", providers: [.apt(["libbrotli-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // Content codings (zstd, br, gzip): negotiation, policy, streaming and one-shot compressors,
        // ETag/Vary helpers, the compressed-file cache. Pure: no I/O, no clock.
        .target(name: "FlaksCompression", dependencies: ["FlaksHTTP", "FlaksSync", "CZlib", "CBrotli", "CZstd"],
                swiftSettings: strict),
        // libxcrypt (Debian's libcrypt-dev): crypt_rn for the bcrypt and SHA-512-crypt htpasswd hashes.
        .systemLibrary(name: "CCrypt", pkgConfig: "libxcrypt", providers: [.apt(["libcrypt-dev"])]),
        // Access rules: IP addresses and CIDR lists, the client address, htpasswd + Basic auth,
        // the auth cache and the rate limiter. Pure decisions (time passed in); no I/O but the htpasswd read.
        .target(name: "FlaksAccess", dependencies: ["FlaksHTTP", "FlaksSync", "COpenSSL", "CCrypt"],
                swiftSettings: strict),
        // TLS over memory BIOs: policy + SSL_CTX, certificates chosen by SNI, ticket keys, a per-connection
        // session that never touches a socket, and certificate/CSR making. See docs/tls.md.
        .target(name: "FlaksTLS", dependencies: ["COpenSSL", "FlaksRouting", "FlaksSync"], swiftSettings: strict),
        // The reverse proxy's pure decisions: the request head sent upstream, response field filtering,
        // WebSocket upgrades, upstream health, balancing, and the per-exchange state machine the
        // executor drives. No I/O, no clock (docs/proxy.md).
        .target(name: "FlaksProxy", dependencies: ["FlaksHTTP", "FlaksAccess", "FlaksSync"], swiftSettings: strict),
        // The ACME client (RFC 8555): pure state machines that emit HTTP requests and crypto jobs as
        // values, its own bounded JSON codec, the renewal schedule and the storage layout. See docs/acme.md.
        .target(name: "FlaksACME", dependencies: ["FlaksTLS", "FlaksHTTP", "COpenSSL", "FlaksSync"], swiftSettings: strict),
        // What serves a route: static, CGI, FastCGI (resolution and the response machine), redirect, respond, views.
        // Release builds skip dynamic exclusivity checks here too: the shared state in this target
        // (the open-file cache) is reached only through `Locked`, whose mutex already serializes
        // every access; the checks were 3 calls and ~250 instructions per static request.
        .target(name: "FlaksHandlers",
                dependencies: ["FlaksHTTP", "FlaksConfig", "FlaksRouting", "FlaksSync", "FlaksFastCGI", "CFlaksLinux"],
                swiftSettings: strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // Sockets, epoll loops, connections, worker pool, signals, reload; the ACME executor (on the first loop).
        // Release builds skip the dynamic exclusivity checks in this target only: a connection's
        // state is loop-confined (one thread), and the checks (a TLS lookup per property access)
        // measured ~3% of a request's CPU. Debug builds and the sanitizer runs keep them.
        .target(name: "FlaksServer",
                dependencies: ["FlaksHTTP", "FlaksConfig", "FlaksRouting", "FlaksHandlers", "FlaksAccess", "FlaksCompression",
                               "FlaksProxy", "FlaksTLS", "FlaksFastCGI", "FlaksACME", "CFlaksLinux",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // Public API for app authors.
        .target(name: "Flaks", dependencies: ["FlaksServer", .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),
        // The `flaks` command.
        .executableTarget(name: "FlaksCLI",
                          dependencies: ["Flaks",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")],
                          exclude: ["hot-functions.order"],
                          swiftSettings: strict,
                          // Release builds on Linux link with lld and place the functions that serving
                          // runs next to each other (hot-functions.order, made by bench/hot-functions.sh):
                          // the pages a serving process keeps resident drop from ~75 64-KiB windows
                          // scattered over 16 MB of code to a few. See docs/memory.md.
                          linkerSettings: [.unsafeFlags(["-use-ld=lld",
                                                         "-Xlinker", "--symbol-ordering-file=\(packageRoot)/Sources/FlaksCLI/hot-functions.order",
                                                         "-Xlinker", "--no-warn-symbol-ordering"],
                                                        .when(platforms: [.linux], configuration: .release))]),
        // Benchmarks run on demand (`swift run -c release RouteBench`).
        .executableTarget(name: "RouteBench", dependencies: ["FlaksRouting"], path: "bench/RouteBench",
                          swiftSettings: strict),
        // Differential test against llhttp (scripts/differential.sh).
        .executableTarget(name: "ParseDump", dependencies: ["FlaksHTTP"], path: "Tests/Differential/ParseDump",
                          swiftSettings: strict),
        // Helpers shared by the test targets: a raw HTTP client, a static-site fixture, php-fpm in a temp dir,
        // a pebble runner.
        .target(name: "FlaksTestSupport", dependencies: ["FlaksServer", "FlaksConfig", "FlaksCompression", "CZlib", "CBrotli", "CZstd",
                                                        "COpenSSL", "FlaksTLS", .product(name: "Logging", package: "swift-log")],
                path: "Tests/FlaksTestSupport",
                swiftSettings: strict),
        .testTarget(name: "FlaksHTTPTests", dependencies: ["FlaksHTTP", "FlaksTestSupport"], exclude: ["Corpus", "ResponseCorpus"], swiftSettings: strict),
        .testTarget(name: "FlaksFastCGITests", dependencies: ["FlaksFastCGI", "FlaksTestSupport"], exclude: ["Corpus"],
                    swiftSettings: strict),
        .testTarget(name: "FlaksConfigTests", dependencies: ["FlaksConfig", "FlaksAccess"], swiftSettings: strict),
        .testTarget(name: "FlaksRoutingTests", dependencies: ["FlaksRouting"], swiftSettings: strict),
        .testTarget(name: "FlaksCompressionTests", dependencies: ["FlaksCompression", "FlaksTestSupport", "CZlib", "CBrotli", "CZstd"],
                    swiftSettings: strict),
        .testTarget(name: "FlaksAccessTests", dependencies: ["FlaksAccess", "FlaksSync", "FlaksTestSupport"], swiftSettings: strict),
        .testTarget(name: "FlaksTLSTests", dependencies: ["FlaksTLS", "COpenSSL"], exclude: ["Corpus"], swiftSettings: strict),
        .testTarget(name: "FlaksProxyTests", dependencies: ["FlaksProxy", "FlaksHTTP", "FlaksAccess", "FlaksTestSupport"], swiftSettings: strict),
        .testTarget(name: "FlaksACMETests", dependencies: ["FlaksACME", "FlaksTLS", "COpenSSL", "FlaksTestSupport"], exclude: ["Corpus"],
                    swiftSettings: strict),
        .testTarget(name: "FlaksHandlersTests", dependencies: ["FlaksHandlers", "FlaksFastCGI", "FlaksTestSupport"], swiftSettings: strict),
        .testTarget(name: "FlaksTests", dependencies: ["Flaks", "FlaksTestSupport"], swiftSettings: strict),
        .testTarget(name: "FlaksServerTests", dependencies: ["FlaksServer", "Flaks", "FlaksTestSupport", "FlaksAccess", "FlaksTLS"],
                    exclude: ["Upstreams"], swiftSettings: strict),
    ]
)

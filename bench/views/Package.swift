// swift-tools-version:6.0
// GET /json -> {"message":"Hello, World!"} on Flaks view functions and on Hummingbird 2, for
// bench/views.sh. Not part of CI (the Hummingbird build takes minutes).
import PackageDescription

let package = Package(
    name: "ViewsBench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Flaks", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
    ],
    targets: [
        .executableTarget(name: "FlaksJSON", dependencies: [.product(name: "Flaks", package: "Flaks")],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
        .executableTarget(name: "HummingbirdJSON",
                          dependencies: [.product(name: "Hummingbird", package: "hummingbird"),
                                         .product(name: "NIOPosix", package: "swift-nio")],
                          swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)

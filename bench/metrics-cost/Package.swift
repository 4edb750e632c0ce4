// swift-tools-version:6.0
// Run on demand (outside CI): swift run -c release --scratch-path .build MetricsCost
// Why the metrics handler keeps per-loop counters instead of swift-metrics + swift-prometheus.
import PackageDescription
let package = Package(name: "MetricsCost",
  dependencies: [.package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
                 .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1")],
  targets: [.executableTarget(name: "MetricsCost", dependencies: [.product(name: "Metrics", package: "swift-metrics"),
                                                         .product(name: "Prometheus", package: "swift-prometheus")])])

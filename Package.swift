// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Prism",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "prism", targets: ["prism"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.3.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libavfilter libswscale libswresample libavutil",
            providers: [.apt(["libavcodec-dev", "libavformat-dev", "libavfilter-dev", "libswscale-dev", "libswresample-dev", "libavutil-dev"])]
        ),
        .target(name: "Media", dependencies: [
            "CFFmpeg",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Transcode", dependencies: [
            "Media",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Verify", dependencies: [
            "Media",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Honesty", dependencies: [
            "Media", "Transcode",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Exec", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .executableTarget(name: "prism", dependencies: [
            "Media", "Transcode", "Verify", "Exec", "Honesty",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "PrismTestSupport", path: "Tests/Support"),
        .testTarget(name: "MediaTests", dependencies: ["Media", "PrismTestSupport"]),
        .testTarget(name: "TranscodeTests", dependencies: ["Transcode", "Media", "PrismTestSupport"]),
        .testTarget(name: "HonestyTests", dependencies: ["Honesty", "Media", "PrismTestSupport"]),
        .testTarget(name: "ExecTests", dependencies: [
            "Exec", "PrismTestSupport",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)

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
        ], swiftSettings: [
            // Metric kernels are per-pixel loops: optimise them even in debug builds so tests run in seconds.
            .unsafeFlags(["-O"], .when(configuration: .debug)),
        ]),
        .target(name: "Exec", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .executableTarget(name: "prism", dependencies: [
            "Media", "Transcode", "Verify", "Exec",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "MediaTests", dependencies: ["Media"]),
        .testTarget(name: "TranscodeTests", dependencies: ["Transcode", "Media"]),
        .testTarget(name: "VerifyTests", dependencies: ["Verify", "Media"]),
        .testTarget(name: "ExecTests", dependencies: [
            "Exec",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)

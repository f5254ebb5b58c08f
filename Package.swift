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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
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
            "Media", "Exec",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Verify", dependencies: [
            "Media",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [
            // Metric kernels are per-pixel loops: optimise them even in debug builds so tests run in seconds.
            .unsafeFlags(["-O"], .when(configuration: .debug)),
        ]),
        .target(name: "Honesty", dependencies: [
            "Media", "Transcode", "Verify", "FarmClient", "Wire", "CFFmpeg",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Exec", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        // The key broker as an HTTP service (the submitter's side of a confidential job).
        .target(name: "Broker", dependencies: [
            "Exec",
            "FarmClient",
            "Wire",
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Serving a live output folder to players (`prism live --serve`).
        .target(name: "Live", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Farmer", dependencies: [
            "Media", "Transcode", "Exec", "Wire", "FarmClient", "CFFmpeg",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The farm client: every call to farmers and registries, on async-http-client (no policy here).
        .target(name: "FarmClient", dependencies: [
            "Wire",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Submitter", dependencies: [
            "Media", "Transcode", "Verify", "Wire", "FarmClient", "Honesty",
            .product(name: "SQLiteNIO", package: "sqlite-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Wire", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Registry", dependencies: [
            "Wire",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "SQLiteNIO", package: "sqlite-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "prism", dependencies: [
            "Media", "Transcode", "Verify", "Exec", "Honesty", "Wire", "Registry", "Farmer", "Submitter", "FarmClient", "Broker", "Live",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "PrismTestSupport", path: "Tests/Support"),
        .testTarget(name: "MediaTests", dependencies: ["Media", "PrismTestSupport"]),
        .testTarget(name: "TranscodeTests", dependencies: ["Transcode", "Media", "PrismTestSupport", "Live"]),
        .testTarget(name: "HonestyTests", dependencies: [
            "Honesty", "Media", "PrismTestSupport", "Farmer", "FarmClient", "Submitter", "Transcode", "Verify", "Wire",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "VerifyTests", dependencies: ["Verify", "Media", "PrismTestSupport"]),
        .testTarget(name: "ExecTests", dependencies: [
            "Exec", "PrismTestSupport", "Broker", "Wire",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .testTarget(name: "FarmTests", dependencies: ["PrismTestSupport", "Wire", "Media"]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "PrismTestSupport"]),
        .testTarget(name: "RegistryTests", dependencies: [
            "Registry", "Wire", "PrismTestSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "SQLiteNIO", package: "sqlite-nio"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)

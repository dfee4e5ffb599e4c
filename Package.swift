// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6)
]

let package = Package(
    name: "guardrail",
    products: [
        .library(name: "GuardrailCore", targets: ["GuardrailCore"]),
        .library(name: "Media", targets: ["Media"]),
        .library(name: "Compute", targets: ["Compute"]),
        .library(name: "Vision", targets: ["Vision"]),
        .library(name: "Policy", targets: ["Policy"]),
        .library(name: "GuardrailEngine", targets: ["GuardrailEngine"]),
        .library(name: "Sanitizer", targets: ["Sanitizer"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "Detector", targets: ["Detector"]),
        .executable(name: "guardrail", targets: ["guardrail"]),
        .executable(name: "guardrail-bench", targets: ["guardrail-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/vapor/multipart-kit", from: "4.7.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libavutil libswscale",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev"])]
        ),
        .systemLibrary(
            name: "CImageCodecs",
            pkgConfig: "libpng16 libturbojpeg libwebpdemux",
            providers: [.apt(["libpng-dev", "libturbojpeg0-dev", "libwebp-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "CGuardrailShims",
            dependencies: ["CFFmpeg", "CImageCodecs"]
        ),
        .target(name: "CKernels", linkerSettings: [.linkedLibrary("m")]),
        .target(
            name: "GuardrailCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Media",
            dependencies: ["GuardrailCore", "CFFmpeg", "CImageCodecs", "CGuardrailShims", "CZlib"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Compute",
            dependencies: ["GuardrailCore", "COpenBLAS", "CKernels"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Vision",
            dependencies: ["GuardrailCore", "Compute", "CZlib"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Policy",
            dependencies: ["GuardrailCore"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Sanitizer",
            dependencies: ["GuardrailCore", "Compute", "Vision"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GuardrailEngine",
            dependencies: ["GuardrailCore", "Media", "Compute", "Vision", "Detector", "Policy"],
            resources: [.copy("policies")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Detector",
            dependencies: ["GuardrailCore", "Compute", "CKernels"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Evaluation",
            dependencies: [
                "GuardrailCore", "Media", "Compute", "Vision", "Policy", "GuardrailEngine",
                .product(name: "CSV", package: "CSV.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Server",
            dependencies: [
                "GuardrailCore", "Media", "Compute", "GuardrailEngine", "Policy", "Sanitizer", "Vision",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "guardrail",
            dependencies: [
                "Media", "Vision", "Policy", "GuardrailEngine", "Sanitizer", "Evaluation", "Detector", "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "guardrail-bench",
            dependencies: [
                "Media", "Vision", "Policy", "GuardrailEngine", "Sanitizer", "Evaluation", "Detector", "Server",
                "RepositoryFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "guardrail-fuzz",
            dependencies: ["GuardrailCore", "Media"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RepositoryFiles",
            dependencies: [
                "GuardrailCore", "Compute", "Vision", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TestSupport",
            dependencies: ["GuardrailCore", "Media", "Compute", "Vision", "RepositoryFiles"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CoreTests",
            dependencies: ["GuardrailCore", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MediaTests",
            dependencies: ["GuardrailCore", "Media", "CGuardrailShims", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EngineTests",
            dependencies: [
                "GuardrailCore", "Media", "Policy", "Vision", "GuardrailEngine", "TestSupport", "guardrail",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PolicyTests",
            dependencies: ["GuardrailCore", "Media", "Policy", "Vision", "GuardrailEngine", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DetectorTests",
            dependencies: ["Compute", "GuardrailCore", "Detector", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EvaluationTests",
            dependencies: [
                "GuardrailCore", "Media", "Policy", "Vision", "GuardrailEngine", "Evaluation", "TestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "GuardrailCore", "GuardrailEngine", "Media", "Sanitizer", "Server", "TestSupport", "Vision",
                "guardrail",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SanitizerTests",
            dependencies: ["GuardrailCore", "Sanitizer", "Vision", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ComputeTests",
            dependencies: ["CKernels", "Compute", "GuardrailCore", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VisionTests",
            dependencies: ["Compute", "GuardrailCore", "Vision", "TestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)

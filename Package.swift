// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Trove",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "trove", targets: ["TroveCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Hummingbird's; the serve tests stop servers with a graceful shutdown through it.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Thin shims over Debian's system libraries (apt names in each module map's providers).
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // libc's GNU extensions Swift's Glibc module hides (memmem).
        .systemLibrary(name: "CLibc"),
        // libcurl: loaded at run time on first use (only cloud stores need it); typed wrappers for its
        // variadic setopt/getinfo. Headers from libcurl4-openssl-dev.
        .target(name: "CCurl"),

        // Core: content addressing (digests, chunking, compression, pack format).
        .target(name: "TroveContent", dependencies: ["CCrypto", "CZstd", "CLibc"]),
        // Core: the BlobStore protocol, local and in-memory backends, decorators.
        .target(name: "TroveStorage", dependencies: [
            "TroveContent",
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Core: the per-build SQLite manifest.
        .target(name: "TroveManifest", dependencies: ["TroveContent", "CSQLite", "CZstd"]),
        // Core: refs, versions and verified reads of published files.
        .target(name: "TroveRepository", dependencies: ["TroveContent", "TroveStorage", "TroveManifest"]),
        // Feature: publishing a build tree.
        .target(name: "TrovePublish", dependencies: [
            "TroveContent", "TroveStorage", "TroveManifest", "TroveRepository",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Feature: serving published versions over HTTP (TroveHTTP: the client of serve.auth_url).
        .target(name: "TroveServe", dependencies: [
            "TroveRepository", "TroveManifest", "TroveContent", "TroveStorage", "TroveHTTP",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // Feature: garbage collection, retention, rollback and verification (docs/gc.md).
        .target(name: "TroveGC", dependencies: [
            "TroveRepository", "TroveManifest", "TroveContent", "TroveStorage",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Cloud: the one HTTP engine of every cloud backend (libcurl multi on its own thread, pool,
        // stall detection), request logging, store URL options, XML, HMAC/MD5.
        .target(name: "TroveHTTP", dependencies: [
            "TroveStorage", "CCurl", "CCrypto",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Cloud: S3-compatible object storage, with its own SigV4 signer.
        .target(name: "TroveS3", dependencies: [
            "TroveHTTP", "TroveStorage", "TroveContent",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Cloud: Azure Blob Storage, with its own Shared Key signer (docs/azure.md).
        .target(name: "TroveAzure", dependencies: [
            "TroveHTTP", "TroveStorage", "TroveContent",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The `trove` command.
        .executableTarget(name: "TroveCLI", dependencies: [
            "TroveContent", "TroveStorage", "TroveManifest", "TroveRepository", "TrovePublish", "TroveServe", "TroveGC", "TroveHTTP", "TroveS3", "TroveAzure",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ]),

        // Benchmarks of the hot loops against this machine's limits (bench/run.sh; docs/benchmarks.md).
        .executableTarget(name: "trove-bench", dependencies: ["TroveContent", "TroveManifest"], path: "bench/TroveBench"),

        // Shared test helpers: the one hookable store wrapper, the one deterministic byte generator,
        // build trees and their round trip through a store (test-only).
        .target(name: "TroveTesting", dependencies: ["TroveContent", "TroveStorage", "TroveRepository"], path: "Tests/Support/TroveTesting"),
        // The one conformance suite every BlobStore backend runs (test-only).
        .target(name: "BlobStoreConformance", dependencies: ["TroveStorage"], path: "Tests/Support/BlobStoreConformance"),
        // Python test helpers started from Swift tests, and the fault proxy in front of any of them (test-only).
        .target(name: "CloudTestSupport", dependencies: ["TroveHTTP"], path: "Tests/Support/CloudTestSupport"),
        // The moto S3 server (Tests/s3server) started from Swift tests (test-only).
        .target(name: "S3TestServer", dependencies: ["CloudTestSupport", "TroveHTTP", "TroveS3", "TroveStorage"], path: "Tests/Support/S3TestServer"),
        // The Azure Blob test server (Tests/azureserver), which checks signatures with Microsoft's SDK (test-only).
        .target(name: "AzureTestServer", dependencies: ["CloudTestSupport", "TroveHTTP", "TroveAzure", "TroveStorage"], path: "Tests/Support/AzureTestServer"),

        .testTarget(name: "TroveContentTests", dependencies: ["TroveContent", "TroveTesting"]),
        .testTarget(name: "TroveStorageTests", dependencies: ["TroveStorage", "TroveContent", "TroveTesting", "BlobStoreConformance"]),
        .testTarget(name: "TroveManifestTests", dependencies: ["TroveManifest", "TroveContent"]),
        .testTarget(name: "TroveRepositoryTests", dependencies: ["TroveRepository", "TroveManifest", "TroveStorage", "TroveContent"]),
        .testTarget(name: "TrovePublishTests", dependencies: ["TrovePublish", "TroveTesting", "CZstd", "TroveGC", "TroveRepository", "TroveStorage", "TroveManifest", "TroveContent"]),
        .testTarget(name: "TroveHTTPTests", dependencies: ["TroveHTTP", "CloudTestSupport", "S3TestServer"]),
        .testTarget(name: "TroveS3Tests", dependencies: ["TroveS3", "TroveHTTP", "TroveStorage", "TroveTesting", "BlobStoreConformance", "S3TestServer"], exclude: ["Fixtures"]),
        .testTarget(name: "TroveAzureTests", dependencies: ["TroveAzure", "TroveHTTP", "TroveStorage", "BlobStoreConformance", "AzureTestServer"]),
        .testTarget(name: "TroveCLITests", dependencies: ["TroveContent", "TroveStorage", "TroveHTTP", "TroveS3", "TroveAzure", "TroveTesting", "CloudTestSupport", "S3TestServer", "AzureTestServer"]),
        .testTarget(name: "TroveGCTests", dependencies: ["TroveGC", "TroveTesting", "TrovePublish", "TroveRepository", "TroveStorage", "TroveManifest", "TroveContent"]),
        .testTarget(name: "TroveServeTests", dependencies: [
            "TroveServe", "TroveTesting", "TrovePublish", "TroveRepository", "TroveStorage", "TroveManifest", "TroveContent",
            "TroveHTTP", "CloudTestSupport", "TroveS3", "S3TestServer",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)

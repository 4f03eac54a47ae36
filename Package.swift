// swift-tools-version:6.0
//
// Lustre, re-done in Swift, in user space.  SwiftPM targets point into the
// seed layout of Lustre's own tree (libcfs/, lustre_compat/, net/, fs/, utils/).

import PackageDescription

/// liburing.h defines _GNU_SOURCE, so its view of Glibc differs from the Glibc
/// module's unless every importer agrees (PLATFORM-NOTES, pitfall 1).
let gnuSource: [SwiftSetting] = [
    .unsafeFlags(["-Xcc", "-D_GNU_SOURCE"]),
    // Dynamic exclusivity checks cost a few percent of every RPC; debug builds keep them.
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "Lustre",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "lctl", targets: ["lctl"]),
        .executable(name: "lnet-selftest", targets: ["lnet-selftest"]),
        .executable(name: "lustre-oss", targets: ["lustre-oss"]),
        .executable(name: "ost-survey", targets: ["ost-survey"]),
        .executable(name: "mkfs.lustre", targets: ["mkfs.lustre"]),
        .executable(name: "tunefs.lustre", targets: ["tunefs.lustre"]),
        .executable(name: "lustre-mds", targets: ["lustre-mds"]),
        .executable(name: "mount.lustre", targets: ["mount.lustre"]),
        .executable(name: "lfs", targets: ["lfs"]),
        .executable(name: "lfsck", targets: ["lfsck"]),
        .executable(name: "mds-survey", targets: ["mds-survey"]),
        .executable(name: "llite-bench", targets: ["llite-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // MARK: libcfs
        .target(name: "CLibCFS", path: "libcfs/CLibCFS"),
        .target(
            name: "LibCFS",
            dependencies: [
                "CLibCFS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            path: "libcfs/LibCFS",
            swiftSettings: gnuSource),

        // MARK: lustre_compat (the only place C libraries are touched)
        .systemLibrary(name: "CURing", path: "lustre_compat/CURing", pkgConfig: "liburing",
                       providers: [.apt(["liburing-dev"])]),
        .systemLibrary(name: "CAIO", path: "lustre_compat/CAIO", providers: [.apt(["libaio-dev"])]),
        .systemLibrary(name: "CFuse3", path: "lustre_compat/CFuse3", pkgConfig: "fuse3",
                       providers: [.apt(["libfuse3-dev"])]),
        .target(
            name: "CExt2fs", path: "lustre_compat/CExt2fs",
            linkerSettings: [.linkedLibrary("ext2fs"), .linkedLibrary("com_err"), .linkedLibrary("e2p")]),
        .target(
            name: "LustreCompat",
            dependencies: [
                "LibCFS", "CURing", "CAIO", "CFuse3", "CExt2fs",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "lustre_compat/LustreCompat",
            swiftSettings: gnuSource),

        // MARK: net
        .target(
            name: "LNet",
            dependencies: [
                "LibCFS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            path: "net/lnet",
            exclude: ["README.md"],
            swiftSettings: gnuSource),

        // MARK: fs/lustre
        .target(
            name: "PtlRPC",
            dependencies: [
                "LibCFS", "LNet",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            path: "fs/lustre/ptlrpc",
            exclude: ["README.md"],
            swiftSettings: gnuSource),

        .target(
            name: "ObdClass",
            dependencies: ["LibCFS", .product(name: "NIOCore", package: "swift-nio")],
            path: "fs/lustre/obdclass",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .target(
            name: "OSD",
            dependencies: [
                "LibCFS", "LustreCompat", "ObdClass",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "fs/lustre/osd",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .target(
            name: "OFD",
            dependencies: [
                "LibCFS", "LNet", "PtlRPC", "ObdClass", "OSD",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "fs/lustre/ofd",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .target(
            name: "OSC",
            dependencies: [
                "LibCFS", "LNet", "PtlRPC", "ObdClass",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            path: "fs/lustre/osc",
            exclude: ["README.md"],
            swiftSettings: gnuSource),

        .target(
            name: "MDT",
            dependencies: [
                "LibCFS", "LustreCompat", "LNet", "PtlRPC", "ObdClass", "OSC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            path: "fs/lustre/mdt",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .target(
            name: "MGS",
            dependencies: [
                "LibCFS", "LNet", "PtlRPC", "ObdClass",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "fs/lustre/mgs",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .target(
            name: "MDC",
            dependencies: [
                "LibCFS", "LNet", "PtlRPC", "ObdClass",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            path: "fs/lustre/mdc",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .target(
            name: "LOV",
            dependencies: [
                "LibCFS", "ObdClass", "OSC",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "fs/lustre/lov",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .target(
            name: "LLite",
            dependencies: [
                "LibCFS", "LNet", "PtlRPC", "ObdClass", "OSC", "MDC", "LOV",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            path: "fs/lustre/llite",
            exclude: ["README.md"],
            swiftSettings: gnuSource),

        // MARK: daemons
        .executableTarget(
            name: "lustre-mds",
            dependencies: [
                "LibCFS", "LustreCompat", "LNet", "PtlRPC", "ObdClass", "OSC", "MDT", "MGS", "MDC",
                "LustreTargetTools", "LustreAdmin", "LustreMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/lustre-mds",
            swiftSettings: gnuSource),
        .executableTarget(
            name: "mount.lustre",
            dependencies: [
                "LibCFS", "LustreCompat", "LNet", "PtlRPC", "ObdClass", "LLite", "MDC", "LustreAdmin", "LustreMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/mount.lustre",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .executableTarget(
            name: "lustre-oss",
            dependencies: [
                "LibCFS", "LustreCompat", "LNet", "PtlRPC", "ObdClass", "OSD", "OFD", "MDC", "LustreTargetTools", "LustreAdmin", "LustreMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/lustre-oss",
            swiftSettings: gnuSource),

        // MARK: utils
        .executableTarget(
            name: "lctl",
            dependencies: [
                "LibCFS", "LNet", "PtlRPC", "ObdClass", "LustreAdmin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "utils/lctl",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .executableTarget(
            name: "lnet-selftest",
            dependencies: [
                "LibCFS", "LNet", "PtlRPC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "utils/lnet-selftest",
            swiftSettings: gnuSource),
        .executableTarget(
            name: "ost-survey",
            dependencies: [
                "LibCFS", "LNet", "PtlRPC", "ObdClass", "OSC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "utils/ost-survey",
            swiftSettings: gnuSource),

        .target(
            name: "LustreAdmin",
            dependencies: ["LibCFS", "ObdClass"],
            path: "utils/admin",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .target(
            name: "LustreMetrics",
            dependencies: [
                "LibCFS",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "utils/metrics",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .target(
            name: "LustreTargetTools",
            dependencies: [
                "LibCFS", "LustreCompat", "ObdClass",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "utils/target-tools",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .executableTarget(
            name: "mkfs.lustre",
            dependencies: [
                "LibCFS", "LustreCompat", "ObdClass", "LustreTargetTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "utils/mkfs.lustre",
            swiftSettings: gnuSource),
        .executableTarget(
            name: "tunefs.lustre",
            dependencies: [
                "LibCFS", "LustreCompat", "ObdClass", "LustreTargetTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "utils/tunefs.lustre",
            swiftSettings: gnuSource),
        .executableTarget(
            name: "lfs",
            dependencies: [
                "LibCFS", "LustreCompat", "ObdClass",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "utils/lfs",
            exclude: ["README.md"],
            swiftSettings: gnuSource),
        .executableTarget(
            name: "lfsck",
            dependencies: [
                "LibCFS", "ObdClass", "MDT",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "utils/lfsck",
            swiftSettings: gnuSource),
        .executableTarget(
            name: "mds-survey",
            dependencies: [
                "LibCFS", "LNet", "PtlRPC", "ObdClass", "MDC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "utils/mds-survey",
            exclude: ["README.md"],
            swiftSettings: gnuSource),

        .executableTarget(
            name: "llite-bench",
            dependencies: [
                "LibCFS", "LNet", "ObdClass", "LLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "utils/llite-bench",
            swiftSettings: gnuSource),

        // MARK: tests
        .target(name: "LustreTestSupport", dependencies: ["LNet", "LibCFS", "LustreCompat"],
                path: "Tests/LustreTestSupport", swiftSettings: gnuSource),
        .testTarget(name: "LibCFSTests", dependencies: ["LibCFS"], path: "Tests/LibCFSTests",
                    swiftSettings: gnuSource),
        .testTarget(name: "LustreCompatTests", dependencies: ["LustreCompat", "LibCFS"],
                    path: "Tests/LustreCompatTests", swiftSettings: gnuSource),
        .testTarget(name: "LustreAdminTests", dependencies: ["LustreAdmin", "LustreMetrics", "ObdClass", "LibCFS",
                                                           .product(name: "Prometheus", package: "swift-prometheus")],
                    path: "Tests/LustreAdminTests", swiftSettings: gnuSource),
        .testTarget(name: "LNetTests", dependencies: ["LustreTestSupport", "LNet", "LibCFS", .product(name: "NIOEmbedded", package: "swift-nio")],
                    path: "Tests/LNetTests",
                    swiftSettings: gnuSource),
        .testTarget(name: "PtlRPCTests", dependencies: ["LustreTestSupport", "PtlRPC", "LNet", "LibCFS"],
                    path: "Tests/PtlRPCTests", swiftSettings: gnuSource),
        .testTarget(name: "ObdClassTests", dependencies: ["ObdClass", "LibCFS", "LustreCompat"],
                    path: "Tests/ObdClassTests", swiftSettings: gnuSource),
        .testTarget(name: "OSDTests", dependencies: ["OSD", "ObdClass", "LibCFS", "LustreCompat"],
                    path: "Tests/OSDTests", swiftSettings: gnuSource),
        .testTarget(name: "OFDTests", dependencies: ["LustreTestSupport", "OFD", "OSC", "OSD", "ObdClass", "PtlRPC", "LNet", "LibCFS",
                                                     "LustreCompat"],
                    path: "Tests/OFDTests", swiftSettings: gnuSource),
        .testTarget(name: "MDTTests", dependencies: ["LustreTestSupport", "MDT", "OSC", "OFD", "OSD", "ObdClass", "PtlRPC", "LNet", "LibCFS",
                                                     "LustreCompat"],
                    path: "Tests/MDTTests", swiftSettings: gnuSource),
        .testTarget(name: "MDSTests", dependencies: ["LustreTestSupport", "MDT", "MGS", "MDC", "OSC", "OFD", "OSD", "ObdClass", "PtlRPC",
                                                     "LNet", "LibCFS", "LustreCompat"],
                    path: "Tests/MDSTests", swiftSettings: gnuSource),
        .testTarget(name: "LLiteTests", dependencies: ["LustreTestSupport", "LLite", "LOV", "MDC", "MDT", "MGS", "OSC", "OFD", "OSD",
                                                       "ObdClass", "PtlRPC", "LNet", "LibCFS", "LustreCompat"],
                    path: "Tests/LLiteTests", swiftSettings: gnuSource),
    ],
    swiftLanguageModes: [.v6]
)

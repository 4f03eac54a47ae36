// swift-tools-version:6.0
//
// Lustre, re-done in Swift, in user space.  SwiftPM targets point into the
// seed layout of Lustre's own tree (libcfs/, lustre_compat/, net/, fs/, utils/).

import PackageDescription

/// liburing.h defines _GNU_SOURCE, so its view of Glibc differs from the Glibc
/// module's unless every importer agrees (PLATFORM-NOTES, pitfall 1).
let gnuSource: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-D_GNU_SOURCE"])]

let package = Package(
    name: "Lustre",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
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

        // MARK: tests
        .testTarget(name: "LibCFSTests", dependencies: ["LibCFS"], path: "Tests/LibCFSTests",
                    swiftSettings: gnuSource),
        .testTarget(name: "LustreCompatTests", dependencies: ["LustreCompat", "LibCFS"],
                    path: "Tests/LustreCompatTests", swiftSettings: gnuSource),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.0
import PackageDescription

// The module graph is one-way; docs/ARCHITECTURE.md states it and its "never" rules.
let package = Package(
    name: "eostrace",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "eostrace", targets: ["eostrace"]),
        .executable(name: "eostrace-dev", targets: ["eostrace-dev"]),
        .library(name: "HDF5Kit", targets: ["HDF5Kit"]),
        .library(name: "TrajectoryFormat", targets: ["TrajectoryFormat"]),
        .library(name: "EOSNumerics", targets: ["EOSNumerics"]),
        .library(name: "EOSModels", targets: ["EOSModels"]),
        .library(name: "EOSRun", targets: ["EOSRun"]),
        .library(name: "EOSPhases", targets: ["EOSPhases"]),
        .library(name: "EOSRecorder", targets: ["EOSRecorder"]),
        .library(name: "EOSAnalysis", targets: ["EOSAnalysis"]),
        .library(name: "EOSReport", targets: ["EOSReport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // C libraries, one thin systemLibrary target each.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CLapack", pkgConfig: "lapacke", providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Swift modules, one job each (see each folder's README.md).
        .target(name: "HDF5Kit", dependencies: ["CHDF5"], exclude: ["README.md"]),
        .target(name: "EOSNumerics", dependencies: ["CLapack"], exclude: ["README.md"]),
        .target(name: "EOSSystem", exclude: ["README.md"]),
        .target(name: "EOSPhases", exclude: ["README.md"]),
        .target(name: "TrajectoryFormat", dependencies: ["HDF5Kit", "EOSSystem"], exclude: ["README.md"],
                plugins: ["EmbedSchema"]),
        // Build-time embedding of schemas/trajectory-v1.json into TrajectoryFormat (no checked-in copy).
        .executableTarget(name: "EmbedSchemaTool", exclude: ["README.md"]),
        .plugin(name: "EmbedSchema", capability: .buildTool(), dependencies: ["EmbedSchemaTool"], exclude: ["README.md"]),
        .target(name: "EOSModels", dependencies: ["EOSNumerics", "CZlib", "HDF5Kit"], exclude: ["README.md"]),
        .target(name: "EOSRun", dependencies: ["EOSModels", "EOSNumerics", "TrajectoryFormat",
                                               .product(name: "Yams", package: "Yams")], exclude: ["README.md"]),
        .target(name: "EOSRecorder", dependencies: ["EOSRun", "EOSPhases", "EOSModels", "EOSNumerics", "TrajectoryFormat"], exclude: ["README.md"]),
        .target(name: "EOSAnalysis", dependencies: ["EOSRun", "EOSPhases", "EOSModels", "EOSNumerics", "TrajectoryFormat"], exclude: ["README.md"]),
        .target(name: "EOSReport", dependencies: ["EOSAnalysis", "EOSPhases", "TrajectoryFormat"], exclude: ["README.md"]),
        // How both executables end on bad input: one stderr line and a documented exit code.
        .target(name: "EOSCommandLine", dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
                exclude: ["README.md"]),
        .executableTarget(name: "eostrace", dependencies: [
            "EOSCommandLine", "TrajectoryFormat", "EOSNumerics", "EOSModels", "EOSRun", "EOSPhases", "EOSRecorder", "EOSAnalysis", "EOSReport", "EOSSystem",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Shared by the test targets and eostrace-dev; never linked into the product.
        .target(name: "EOSTestSupport", dependencies: ["EOSNumerics", "TrajectoryFormat"], exclude: ["README.md"]),
        // Developer tools (fuzzer, benchmarks, sample and test writers), kept out of the product CLI.
        .executableTarget(name: "eostrace-dev", dependencies: [
            "EOSCommandLine", "TrajectoryFormat", "EOSNumerics", "EOSModels", "EOSRun", "EOSPhases", "EOSRecorder", "EOSSystem", "EOSTestSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], exclude: ["README.md"]),

        .testTarget(name: "HDF5KitTests", dependencies: ["HDF5Kit"]),
        .testTarget(name: "EOSSystemTests", dependencies: ["EOSSystem", "EOSTestSupport"]),
        .testTarget(name: "TrajectoryFormatTests", dependencies: ["TrajectoryFormat", "HDF5Kit", "EOSTestSupport"]),
        .testTarget(name: "EOSNumericsTests", dependencies: ["EOSNumerics"]),
        .testTarget(name: "EOSModelsTests", dependencies: ["EOSModels", "EOSNumerics"]),
        .testTarget(name: "EOSRunTests", dependencies: ["EOSRun", "EOSModels", "EOSNumerics", "TrajectoryFormat"]),
        .testTarget(name: "EOSPhasesTests", dependencies: ["EOSPhases"]),
        .testTarget(name: "EOSRecorderTests", dependencies: ["EOSRecorder", "EOSRun", "EOSModels", "TrajectoryFormat"]),
        .testTarget(name: "EOSAnalysisTests", dependencies: ["EOSAnalysis", "EOSPhases", "EOSModels", "EOSNumerics", "TrajectoryFormat", "HDF5Kit", "EOSTestSupport"]),
        .testTarget(name: "EOSReportTests", dependencies: ["EOSReport", "EOSAnalysis", "EOSPhases", "EOSNumerics", "TrajectoryFormat", "EOSTestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["TrajectoryFormat", "HDF5Kit", "EOSTestSupport"]),
    ]
)

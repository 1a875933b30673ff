// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "eostrace",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "eostrace", targets: ["eostrace"]),
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
        .target(name: "TrajectoryFormat", dependencies: ["HDF5Kit"], exclude: ["README.md"],
                plugins: ["EmbedSchema"]),
        // Build-time embedding of schemas/trajectory-v1.json into TrajectoryFormat (no checked-in copy).
        .executableTarget(name: "EmbedSchemaTool", exclude: ["README.md"]),
        .plugin(name: "EmbedSchema", capability: .buildTool(), dependencies: ["EmbedSchemaTool"], exclude: ["README.md"]),
        .target(name: "EOSModels", dependencies: ["EOSNumerics", "CZlib", "HDF5Kit"], exclude: ["README.md"]),
        .target(name: "EOSRun", dependencies: ["EOSModels", "EOSNumerics", "TrajectoryFormat",
                                               .product(name: "Yams", package: "Yams")], exclude: ["README.md"]),
        .target(name: "EOSPhases", exclude: ["README.md"]),
        .target(name: "EOSRecorder", dependencies: ["EOSRun", "EOSPhases", "EOSModels", "EOSNumerics", "TrajectoryFormat"], exclude: ["README.md"]),
        .target(name: "EOSAnalysis", dependencies: ["EOSModels", "EOSNumerics", "EOSRun", "EOSPhases", "TrajectoryFormat", "HDF5Kit"], exclude: ["README.md"]),
        .target(name: "EOSReport", dependencies: ["EOSAnalysis", "EOSPhases", "TrajectoryFormat"], exclude: ["README.md"]),
        .executableTarget(name: "eostrace", dependencies: [
            "HDF5Kit", "TrajectoryFormat", "EOSNumerics", "EOSModels", "EOSPhases", "EOSRecorder", "EOSAnalysis", "EOSReport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "HDF5KitTests", dependencies: ["HDF5Kit"]),
        .testTarget(name: "TrajectoryFormatTests", dependencies: ["TrajectoryFormat", "HDF5Kit"]),
        .testTarget(name: "EOSNumericsTests", dependencies: ["EOSNumerics"]),
        .testTarget(name: "EOSModelsTests", dependencies: ["EOSModels", "EOSNumerics"]),
        .testTarget(name: "EOSRunTests", dependencies: ["EOSRun", "EOSModels", "EOSNumerics", "TrajectoryFormat"]),
        .testTarget(name: "EOSPhasesTests", dependencies: ["EOSPhases"]),
        .testTarget(name: "EOSRecorderTests", dependencies: ["EOSRecorder", "EOSModels", "TrajectoryFormat"]),
        .testTarget(name: "EOSAnalysisTests", dependencies: ["EOSAnalysis", "EOSPhases", "EOSModels", "EOSNumerics", "TrajectoryFormat", "HDF5Kit"]),
        .testTarget(name: "EOSReportTests", dependencies: ["EOSReport", "EOSAnalysis", "EOSPhases", "TrajectoryFormat"]),
        .testTarget(name: "CLITests", dependencies: ["TrajectoryFormat", "HDF5Kit"]),
    ]
)

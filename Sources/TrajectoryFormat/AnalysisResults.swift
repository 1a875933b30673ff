import Foundation
import HDF5Kit

/// Per-step results of `eostrace analyze` (docs/FORMAT.md) as stored in an `/analysis` group, either
/// in the recording itself (`writeInPlace`) or in a separate file (`write(to:)`, root `format` =
/// "eostrace-analysis"). Both have their own `/analysis/step` coordinate (in place a copy of
/// `/trajectory/step`), attached to every dataset, so xarray opens `group="analysis"` directly.
/// This is the only writer and reader of `/analysis` (EOSAnalysis converts its `AnalysisResult`).
///
/// Datasets (one value per step, dimension `step`): `phase` int8, `c1`, `r_norm_sq`,
/// `r_prime_error` float64, `anomaly` uint8, each with a `long_name` attribute; group attributes
/// `options`, `summary` (compact JSON), `source_file`, `software_version`.
public struct AnalysisResults: Sendable, Equatable {
    /// The recording's steps (one per row).
    public var steps: [Int64]
    /// Phase 1–4 per step.
    public var phase: [Int8]
    /// c1(t) = D(t)ᵀ v1(t).
    public var c1: [Double]
    /// ‖R(t)‖²/n.
    public var rNormSq: [Double]
    /// ‖R(t) − R′(t)‖, NaN where undefined.
    public var rPrimeError: [Double]
    /// 1 at anomaly points, else 0.
    public var anomaly: [UInt8]
    /// `long_name` attribute of each dataset, by dataset name (`datasetNames`); none when absent.
    public var longNames: [String: String]
    /// JSON of the options used (phase rule included).
    public var options: String
    /// JSON summary.
    public var summary: String
    /// Path of the analyzed recording (`source_file`).
    public var sourceFile: String?
    public var softwareVersion: String

    public init(steps: [Int64], phase: [Int8], c1: [Double], rNormSq: [Double], rPrimeError: [Double],
                anomaly: [UInt8], longNames: [String: String] = [:], options: String, summary: String,
                sourceFile: String?, softwareVersion: String) {
        self.steps = steps
        self.phase = phase
        self.c1 = c1
        self.rNormSq = rNormSq
        self.rPrimeError = rPrimeError
        self.anomaly = anomaly
        self.longNames = longNames
        self.options = options
        self.summary = summary
        self.sourceFile = sourceFile
        self.softwareVersion = softwareVersion
    }

    /// Root `format` of a separate analysis file.
    public static let separateFormatName = "eostrace-analysis"
    /// Datasets written under /analysis (besides `step`), in writing order.
    public static let datasetNames = ["phase", "c1", "r_norm_sq", "r_prime_error", "anomaly"]

    func check(file: String) throws {
        let t = steps.count
        for (name, c) in [("phase", phase.count), ("c1", c1.count), ("r_norm_sq", rNormSq.count),
                          ("r_prime_error", rPrimeError.count), ("anomaly", anomaly.count)] where c != t {
            throw TrajectoryError(.invalidArgument, file: file, object: "/analysis/\(name)",
                                  "has \(c) values for \(t) steps")
        }
    }

    /// Writes `path` holding only `/analysis`, with its own `/analysis/step` coordinate (netCDF
    /// dimension "step"), and the root attributes `format` ("eostrace-analysis"), `software`,
    /// `software_version`. HDF5 1.10-readable (libver earliest..v110). Under the output rule
    /// (`OutputFile`): an existing file only with `force`, never a live one; written to a
    /// temporary file beside it and renamed into place when complete.
    ///
    /// - Throws: `OutputFile.Failure` (refused or failed), `TrajectoryError`, `HDF5Error`.
    public func write(to path: String, force: Bool = false) throws {
        try check(file: path)
        try OutputFile.produce(path, force: force) { temporary in
            try writeFile(at: temporary)
            try verifyWritten(in: temporary, target: path)
        }
    }

    /// Creates the separate analysis file at `path` (replacing it): the body of `write(to:force:)`.
    private func writeFile(at path: String) throws {
        let file = try HDF5File.create(path)
        defer { try? file.close() }
        let root = try file.root()
        try root.setAttribute("format", Self.separateFormatName)
        try root.setAttribute("software", "eostrace")
        try root.setAttribute("software_version", softwareVersion)
        let group = try file.createGroup("/analysis")
        let stepDS = try group.createDataset("step", type: .int64, shape: [steps.count])
        try stepDS.write(steps)
        try stepDS.makeDimensionScale(name: "step")
        try stepDS.setAttribute("_Netcdf4Dimid", Int32(0))
        try writeSeries(into: group, scale: stepDS)
        try writeAttributes(on: group)
        try file.flush()
        try file.close()
    }

    /// Adds `/analysis` to the recording at `path` in place: the body of
    /// `writeInPlace(recording:)`, run on the recording's temporary copy. The steps must equal
    /// `/trajectory/step`. `/analysis/step` is written as the group's own coordinate (a copy of `/trajectory/step`):
    /// netCDF-4 readers (h5netcdf, xarray) only see dimensions of the group and its ancestors, so
    /// `xarray.open_dataset(path, group="analysis", engine="h5netcdf")` needs it there. An existing
    /// `/analysis` of the same length is overwritten in place (analyzing twice gives the same
    /// contents); one of another length is an error. The file must not be open by a writer.
    ///
    /// - Throws: `TrajectoryError(.invalidData)` when the steps differ from the recording's.
    func addAnalysis(toFileAt path: String) throws {
        let file = try HDF5File.open(path, mode: .readWrite)
        defer { try? file.close() }
        let recorded = try verifyFits(file, path: path)
        let group: HDF5Group
        let scale: HDF5Dataset
        if file.kind(of: "/analysis") == .group {
            group = try file.group("/analysis")
            scale = try group.dataset("step")
            try scale.write(recorded)
        } else {
            group = try file.createGroup("/analysis")
            scale = try group.createDataset("step", type: .int64, shape: [recorded.count])
            try scale.write(recorded)
            try scale.makeDimensionScale(name: "step")
            try scale.setAttribute("_Netcdf4Dimid", Int32(0))
        }
        try writeSeries(into: group, scale: scale)
        try writeAttributes(on: group)
        try file.flush()
        try file.close()
    }

    /// Checks that these results can go into the recording `file` (named `path` in errors): the
    /// steps equal `/trajectory/step`, and an existing `/analysis` has the same length and a
    /// step coordinate. Returns the recorded steps.
    func verifyFits(_ file: HDF5File, path: String) throws -> [Int64] {
        let recorded = try file.dataset("/trajectory/step").read(Int64.self)
        guard recorded == steps else {
            throw TrajectoryError(.invalidData, file: path, object: "/trajectory/step",
                                  "the analysis covers \(steps.count) steps that do not match the recording's \(recorded.count)")
        }
        try check(file: path)
        guard file.kind(of: "/analysis") == .group else { return recorded }
        let group = try file.group("/analysis")
        for name in Self.datasetNames + ["step"] where group.exists(name) {
            let ds = try group.dataset(name)
            guard try ds.shape() == [recorded.count] else {
                throw TrajectoryError(.invalidData, file: path, object: "/analysis/\(name)",
                                      "existing dataset has shape \(try ds.shape()), expected [\(recorded.count)]; write to a separate file with --out")
            }
        }
        guard group.exists("step") else {
            throw TrajectoryError(.invalidData, file: path, object: "/analysis/step",
                                  "existing /analysis has no step coordinate; write to a separate file with --out")
        }
        return recorded
    }

    private func writeSeries(into group: HDF5Group, scale: HDF5Dataset) throws {
        let t = steps.count
        func put<T: HDF5Element>(_ name: String, _ values: [T]) throws {
            let ds: HDF5Dataset
            if group.exists(name) {
                ds = try group.dataset(name)
            } else {
                ds = try group.createDataset(name, type: T.hdf5Type, shape: [t])
                try ds.attachScale(scale, axis: 0)
            }
            try ds.write(values)
            let spec = TrajectorySchema.current.dataset("/analysis/" + name)
            if let doc = longNames[name] { try ds.setAttribute("long_name", doc) }
            if let units = spec?.units { try ds.setAttribute("units", units) }
        }
        try TrajectoryWriter.label(scale, path: "/analysis/step")
        try put("phase", phase)
        try put("c1", c1)
        try put("r_norm_sq", rNormSq)
        try put("r_prime_error", rPrimeError)
        try put("anomaly", anomaly)
    }

    private func writeAttributes(on group: HDF5Group) throws {
        try group.setAttribute("options", options)
        try group.setAttribute("summary", summary)
        if let sourceFile { try group.setAttribute("source_file", sourceFile) }
        try group.setAttribute("software_version", softwareVersion)
    }

    /// Reads analysis results from a separate analysis file or a recording with `/analysis`.
    public static func read(path: String) throws -> AnalysisResults {
        let f = try TrajectoryReader.openFile(path, swmr: false)
        defer { try? f.close() }
        guard f.kind(of: "/analysis") == .group else {
            throw TrajectoryError(.missingObject, file: path, object: "/analysis", "no analysis results in this file")
        }
        let g = try f.group("/analysis")
        let stepPath = f.exists("/analysis/step") ? "/analysis/step" : "/trajectory/step"
        func attr(_ name: String) throws -> String {
            guard g.hasAttribute(name) else {
                throw TrajectoryError(.missingObject, file: path, object: "/analysis@\(name)", "missing required attribute")
            }
            return try g.stringAttribute(name)
        }
        func values<T: HDF5Element>(_ name: String) throws -> [T] {
            guard f.kind(of: "/analysis/\(name)") == .dataset else {
                throw TrajectoryError(.missingObject, file: path, object: "/analysis/\(name)", "missing dataset")
            }
            return try f.dataset("/analysis/\(name)").read(T.self)
        }
        var longNames: [String: String] = [:]
        for name in datasetNames where f.kind(of: "/analysis/\(name)") == .dataset {
            let ds = try f.dataset("/analysis/\(name)")
            if ds.hasAttribute("long_name") { longNames[name] = try ds.stringAttribute("long_name") }
        }
        let phase: [Int8] = try values("phase")
        let steps = try f.dataset(stepPath).readRows(0..<phase.count, as: Int64.self)
        return AnalysisResults(
            steps: steps, phase: phase, c1: try values("c1"), rNormSq: try values("r_norm_sq"),
            rPrimeError: try values("r_prime_error"), anomaly: try values("anomaly"), longNames: longNames,
            options: try attr("options"), summary: try attr("summary"),
            sourceFile: g.hasAttribute("source_file") ? try g.stringAttribute("source_file") : nil,
            softwareVersion: g.hasAttribute("software_version") ? try g.stringAttribute("software_version") : "")
    }
}

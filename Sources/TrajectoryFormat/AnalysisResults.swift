import Foundation
import HDF5Kit

/// Per-step results of `eostrace analyze` (SPEC §3.6) and how they are stored: an `/analysis`
/// group, either in the recording itself (on its `/trajectory/step` coordinate) or in a separate
/// file (root `format` = "eostrace-analysis"); both have their own `/analysis/step` coordinate (in
/// place a copy of `/trajectory/step`), attached to every dataset, so xarray opens
/// `group="analysis"` directly.
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
    /// JSON of the options used (phase rule included).
    public var options: String
    /// JSON summary.
    public var summary: String
    /// Path of the analyzed recording.
    public var sourceFile: String?
    public var softwareVersion: String

    public init(steps: [Int64], phase: [Int8], c1: [Double], rNormSq: [Double], rPrimeError: [Double],
                anomaly: [UInt8], options: String, summary: String, sourceFile: String?, softwareVersion: String) {
        self.steps = steps
        self.phase = phase
        self.c1 = c1
        self.rNormSq = rNormSq
        self.rPrimeError = rPrimeError
        self.anomaly = anomaly
        self.options = options
        self.summary = summary
        self.sourceFile = sourceFile
        self.softwareVersion = softwareVersion
    }

    /// Root `format` of a separate analysis file.
    public static let separateFormatName = "eostrace-analysis"

    func check(file: String) throws {
        let t = steps.count
        for (name, c) in [("phase", phase.count), ("c1", c1.count), ("r_norm_sq", rNormSq.count),
                          ("r_prime_error", rPrimeError.count), ("anomaly", anomaly.count)] where c != t {
            throw TrajectoryError(.invalidArgument, file: file, object: "/analysis/\(name)",
                                  "has \(c) values for \(t) steps")
        }
    }

    /// Writes a separate analysis file (replacing it).
    public func write(to path: String) throws {
        try check(file: path)
        let f = try HDF5File.create(path, bounds: .earliestToV110)
        do {
            let root = try f.root()
            try root.setAttribute("format", AnalysisResults.separateFormatName)
            try root.setAttribute("format_version", [Int64(TrajectorySchema.current.major), Int64(TrajectorySchema.current.minor)])
            try root.setAttribute("software", "eostrace")
            try root.setAttribute("software_version", softwareVersion)
            let g = try f.createGroup("/analysis")
            let step = try g.createDataset("step", type: .int64, shape: [steps.count])
            try step.write(steps)
            try step.makeDimensionScale(name: "step")
            try step.setAttribute("_Netcdf4Dimid", Int32(0))
            try writeSeries(g, scale: step)
            try f.close()
        } catch {
            try? f.close()
            throw error
        }
    }

    /// Writes `/analysis` into the recording at `path` (replacing an earlier one). The steps must
    /// be the recording's `/trajectory/step` (its common length, values identical). The recording
    /// must not be open by a writer.
    public func writeInPlace(recording path: String) throws {
        try check(file: path)
        let recorded = try TrajectoryReader(path: path).steps()
        guard recorded == steps else {
            throw TrajectoryError(.invalidArgument, file: path, object: "/analysis",
                                  "steps differ from /trajectory/step (\(steps.count) vs \(recorded.count) rows)")
        }
        let f = try HDF5File.open(path, mode: .readWrite)
        do {
            if f.exists("/analysis") { try f.root().removeLink("analysis") }
            let g = try f.createGroup("/analysis")
            // Its own copy of the steps: netCDF readers see only the dimensions of a group and its
            // parents, not /trajectory's.
            let step = try g.createDataset("step", type: .int64, shape: [steps.count])
            try step.write(steps)
            try step.makeDimensionScale(name: "step")
            try writeSeries(g, scale: step)
            try f.close()
        } catch {
            try? f.close()
            throw error
        }
    }

    private func writeSeries(_ g: HDF5Group, scale: HDF5Dataset) throws {
        try g.setAttribute("options", options)
        try g.setAttribute("summary", summary)
        if let s = sourceFile { try g.setAttribute("source_file", s) }
        try g.setAttribute("software_version", softwareVersion)
        let t = steps.count
        func make<T: HDF5Element>(_ name: String, _ values: [T]) throws {
            let ds = try g.createDataset(name, type: T.hdf5Type, shape: [t])
            try ds.write(values)
            try ds.attachScale(scale, axis: 0)
        }
        try make("phase", phase)
        try make("c1", c1)
        try make("r_norm_sq", rNormSq)
        try make("r_prime_error", rPrimeError)
        try make("anomaly", anomaly)
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
        let phase: [Int8] = try values("phase")
        let steps = try f.dataset(stepPath).readRows(0..<phase.count, as: Int64.self)
        return AnalysisResults(
            steps: steps, phase: phase, c1: try values("c1"), rNormSq: try values("r_norm_sq"),
            rPrimeError: try values("r_prime_error"), anomaly: try values("anomaly"),
            options: try attr("options"), summary: try attr("summary"),
            sourceFile: g.hasAttribute("source_file") ? try g.stringAttribute("source_file") : nil,
            softwareVersion: g.hasAttribute("software_version") ? try g.stringAttribute("software_version") : "")
    }
}

import Foundation
import HDF5Kit
import TrajectoryFormat

/// Writes the `/analysis` group of SPEC §3.6 and schemas/trajectory-v1.json: per-step `phase`
/// (int8), `c1`, `r_norm_sq`, `r_prime_error` (float64) and `anomaly` (uint8) on the step
/// dimension, attributes `options`, `summary` (compact JSON), `source_file`, `software_version`.
public enum AnalysisFile {
    /// Datasets written under /analysis (besides `step` in a separate file).
    public static let datasetNames = ["phase", "c1", "r_norm_sq", "r_prime_error", "anomaly"]

    /// Creates (replacing) `path` holding only `/analysis`, with its own `/analysis/step`
    /// coordinate (netCDF dimension "step"). The file is HDF5 1.10-readable (libver earliest..v110).
    public static func write(_ result: AnalysisResult, to path: String, sourceFile: String?, softwareVersion: String) throws {
        let file = try HDF5File.create(path)
        defer { try? file.close() }
        let root = try file.root()
        try root.setAttribute("software", "eostrace")
        try root.setAttribute("software_version", softwareVersion)
        let group = try file.createGroup("/analysis")
        let t = result.perStep.step.count
        let stepDS = try group.createDataset("step", type: .int64, shape: [t])
        try stepDS.write(result.perStep.step)
        try stepDS.makeDimensionScale(name: "step")
        try stepDS.setAttribute("_Netcdf4Dimid", Int32(0))
        try writeSeries(result, into: group, scale: stepDS)
        try writeAttributes(result, on: group, sourceFile: sourceFile, softwareVersion: softwareVersion)
        try file.flush()
        try file.close()
    }

    /// Writes `/analysis` into the recording itself. The steps must equal `/trajectory/step`.
    /// `/analysis/step` is written as the group's own coordinate (a copy of `/trajectory/step`):
    /// netCDF-4 readers (h5netcdf, xarray) only see dimensions of the group and its ancestors, so
    /// `xarray.open_dataset(path, group="analysis", engine="h5netcdf")` needs it there. An existing
    /// `/analysis` of the same length is overwritten in place (analyzing twice gives the same
    /// contents); one of another length is an error.
    ///
    /// - Throws: `TrajectoryError(.invalidData)` when the steps differ from the recording's.
    public static func writeInPlace(_ result: AnalysisResult, recording path: String, softwareVersion: String) throws {
        let file = try HDF5File.open(path, mode: .readWrite)
        defer { try? file.close() }
        let stepDS = try file.dataset("/trajectory/step")
        let steps = try stepDS.read(Int64.self)
        guard steps == result.perStep.step else {
            throw TrajectoryError(.invalidData, file: path, object: "/trajectory/step",
                                  "the analysis covers \(result.perStep.step.count) steps that do not match the recording's \(steps.count)")
        }
        let group: HDF5Group
        let scale: HDF5Dataset
        if file.kind(of: "/analysis") == .group {
            group = try file.group("/analysis")
            for name in datasetNames + ["step"] where group.exists(name) {
                let ds = try group.dataset(name)
                guard try ds.shape() == [steps.count] else {
                    throw TrajectoryError(.invalidData, file: path, object: "/analysis/\(name)",
                                          "existing dataset has shape \(try ds.shape()), expected [\(steps.count)]; write to a separate file with --out")
                }
            }
            guard group.exists("step") else {
                throw TrajectoryError(.invalidData, file: path, object: "/analysis/step",
                                      "existing /analysis has no step coordinate; write to a separate file with --out")
            }
            scale = try group.dataset("step")
            try scale.write(steps)
        } else {
            group = try file.createGroup("/analysis")
            scale = try group.createDataset("step", type: .int64, shape: [steps.count])
            try scale.write(steps)
            try scale.makeDimensionScale(name: "step")
            try scale.setAttribute("_Netcdf4Dimid", Int32(0))
        }
        try writeSeries(result, into: group, scale: scale)
        try writeAttributes(result, on: group, sourceFile: path, softwareVersion: softwareVersion)
        try file.flush()
        try file.close()
    }

    private static func writeSeries(_ result: AnalysisResult, into group: HDF5Group, scale: HDF5Dataset) throws {
        let p = result.perStep
        let t = p.step.count
        func put<T: HDF5Element>(_ name: String, _ values: [T], doc: String) throws {
            let ds: HDF5Dataset
            if group.exists(name) {
                ds = try group.dataset(name)
            } else {
                ds = try group.createDataset(name, type: T.hdf5Type, shape: [t])
                try ds.attachScale(scale, axis: 0)
            }
            try ds.write(values)
            try ds.setAttribute("long_name", doc)
        }
        try put("phase", p.phase, doc: "Phase 1-4 (SPEC 3.1), rule: \(result.options.phaseRule.rawValue)")
        try put("c1", p.c1, doc: "c1(t) = D(t)^T v1(t)")
        try put("r_norm_sq", p.rNormSq, doc: "|R(t)|^2 / n, R = (I - v1 v1^T) D")
        try put("r_prime_error", p.rPrimeError, doc: "|R(t) - R'(t)| (\(result.rPrime.primary.mode); M: \(result.rPrime.gramSource)); NaN where undefined")
        try put("anomaly", p.anomaly, doc: "1 at step t when sign(Lambda(t+1)-Lambda(t)) != sign(|A(t+1)|-|A(t)|)")
    }

    private static func writeAttributes(_ result: AnalysisResult, on group: HDF5Group, sourceFile: String?,
                                        softwareVersion: String) throws {
        try group.setAttribute("options", try result.optionsJSON())
        try group.setAttribute("summary", try result.summaryJSON())
        if let sourceFile { try group.setAttribute("source_file", sourceFile) }
        try group.setAttribute("software_version", softwareVersion)
    }
}

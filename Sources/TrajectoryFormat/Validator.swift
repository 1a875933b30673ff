import Foundation
import HDF5Kit

/// One thing wrong with a file, at one object ("/trajectory/loss", "/run@k").
public struct ValidationProblem: Sendable, Equatable, CustomStringConvertible {
    public var object: String
    public var message: String

    public init(object: String, message: String) {
        self.object = object
        self.message = message
    }

    /// `<object>: <message>` on one line.
    public var description: String { String("\(object): \(message)".map { $0.isNewline ? " " : $0 }) }
}

/// Checks a recording against the schema and reports every problem it finds: missing required
/// objects and attributes, dtypes, ranks and dimensions against n/k/d/p, lengths across a
/// cadence, monotonic steps, non-finite values, descending eigenvalues, the named checks
/// (loss = mean(residual²), sharpness = λ₁, unit eigenvectors, symmetric Gram), dimension
/// scales and the status value. Reads in blocks of a few MiB: memory does not grow with the
/// file. Never modifies the file.
public struct Validator {
    public let schema: TrajectorySchema
    /// Absolute tolerance of ⟨v_i, v_j⟩ = 0 (i ≠ j) for the eigenvectors of one step.
    public var orthogonalityTolerance = 1e-6
    /// Relative tolerance of loss = mean(residual²).
    public var lossTolerance = 1e-9
    /// Relative tolerance of sharpness = eigenvalues[:, 0] and of Gram symmetry.
    public var equalityTolerance = 1e-12
    /// Absolute tolerance of ‖v_i‖ = 1.
    public var unitNormTolerance = 1e-8
    /// Bytes read per block.
    public var blockBytes = 4 << 20

    public init(schema: TrajectorySchema = .current) {
        self.schema = schema
    }

    /// Validates the file at `path`.
    ///
    /// - Returns: the problems found (empty: valid).
    /// - Throws: `HDF5Error` when the file cannot be opened (missing, not HDF5, truncated) and
    ///   `TrajectoryError` (`.notATrajectory`, `.unsupportedVersion`) when it is not a recording
    ///   this version can read.
    public func validate(path: String) throws -> [ValidationProblem] {
        let file = try TrajectoryReader.openFile(path, swmr: false)
        defer { try? file.close() }
        _ = try TrajectoryReader.checkFormat(try file.root(), path: path)
        var run = Run(validator: self, file: file)
        run.check()
        return run.problems
    }
}

/// One validation pass (the semantic checks are in Validator+Semantics.swift).
struct Run {
    let v: Validator
    let file: HDF5File
    var schema: TrajectorySchema { v.schema }
    var problems: [ValidationProblem] = []
    var sizes: [String: Int] = [:]
    /// c (`/run@n_outputs`, 1 when absent): which dimensions the datasets have (`dims(outputs:)`).
    var outputs = 1
    /// The file's major format version (1 or 2).
    var major = 1
    /// A running (live or killed) recording: the series of one cadence are extended one after
    /// the other, so their lengths may differ; readers use the common length.
    var isRunning = false

    init(validator: Validator, file: HDF5File) {
        v = validator
        self.file = file
    }

    mutating func problem(_ object: String, _ message: String) {
        problems.append(ValidationProblem(object: object, message: message))
    }

    mutating func check() {
        if let root = try? file.root() {
            checkAttributes(root, specs: schema.rootAttributes, objectPath: "/")
        }
        for g in schema.groups {
            guard let kind = file.kind(of: g.path) else {
                if g.required { problem(g.path, "missing required group") }
                continue
            }
            guard kind == .group, let group = try? file.group(g.path) else {
                problem(g.path, "is not a group")
                continue
            }
            checkAttributes(group, specs: g.attributes ?? [], objectPath: g.path)
        }
        resolveSizes()
        if file.kind(of: "/run/status") == .dataset, let st = try? file.dataset("/run/status").readString() {
            isRunning = st == "running"
        }
        checkRunValues()
        checkOutputs()
        checkModelSize()
        checkCompletedHasSteps()
        for spec in schema.datasets { checkDataset(spec) }
        checkEigenRows()
        checkProductChains()
        checkAboveThreshold()
        checkWarmStart()
        checkConventionAttributes()
        checkDimensionScaleNames()
        checkUndeclaredDatasets()
    }

    /// Values of /run attributes that the types alone do not constrain: η finite and positive,
    /// n ≥ 1, 1 ≤ k ≤ n, p ≥ 0, and the JSON attributes (model, config, cadences) parse as objects
    /// (the model with a string "kind").
    mutating func checkRunValues() {
        guard let run = try? file.group("/run") else { return }
        if run.hasAttribute("learning_rate"), let eta = try? run.scalarAttribute("learning_rate", as: Double.self),
           !SeriesInvariants.isValidLearningRate(eta) {
            problem("/run@learning_rate", "is \(eta), expected a finite positive step size")
        }
        if let n = sizes["n"], n < 1 { problem("/run@n_samples", "is \(n), expected ≥ 1") }
        if let k = sizes["k"], k < 1 || (sizes["n"] != nil && k > (sizes["nc"] ?? Int.max)) {
            problem("/run@k", outputs > 1 ? "is \(k), expected 1 ≤ k ≤ n·c = \(sizes["nc"] ?? 0)" : "is \(k), expected 1 ≤ k ≤ n")
        }
        if let p = sizes["p"], p < 0 { problem("/run@n_parameters", "is \(p), expected ≥ 0") }
        for name in ["model", "config", "cadences"] where run.hasAttribute(name) {
            guard let text = try? run.stringAttribute(name) else { continue }  // type checked elsewhere
            let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
            if object == nil {
                problem("/run@\(name)", "is not a JSON object")
            } else if name == "model", !(object?["kind"] is String) {
                problem("/run@model", "has no string \"kind\"")
            }
        }
    }

    /// netCDF-4's mark of a dimension without a coordinate variable (what h5netcdf writes).
    static let netCDFDimensionPrefix = "This is a netCDF dimension but not a netCDF variable."

    /// Scales of dimensions without a coordinate (in the root group) must carry netCDF's NAME,
    /// or h5netcdf/xarray read them as variables.
    mutating func checkDimensionScaleNames() {
        for dim in schema.dimensions where dim.coordinate == nil {
            let path = "/" + dim.name
            guard file.kind(of: path) == .dataset, let ds = try? file.dataset(path) else { continue }
            guard (try? ds.isDimensionScale()) == true else {
                problem(path, "is not a dimension scale (H5DSset_scale)")
                continue
            }
            let name = (try? ds.stringAttribute("NAME")) ?? ""
            if !name.hasPrefix(Self.netCDFDimensionPrefix) {
                problem(path, "NAME of a dimension without coordinate must start with '\(Self.netCDFDimensionPrefix)'")
            }
        }
    }

    /// Datasets the schema does not name are allowed (users add their own series), but every axis
    /// needs one dimension scale, or xarray invents phony_dim_* names.
    mutating func checkUndeclaredDatasets() {
        let declared = Set(schema.datasets.map(\.path))
        let scales = Set(schema.dimensions.map { $0.coordinate ?? "/" + $0.name })
        for g in schema.groups where g.path != "/run" && g.path != "/data" {
            guard file.kind(of: g.path) == .group, let group = try? file.group(g.path),
                  let children = try? group.childNames() else { continue }
            for child in children.sorted() {
                let path = g.path + "/" + child
                guard !declared.contains(path), !scales.contains(path), file.kind(of: path) == .dataset,
                      let ds = try? file.dataset(path), (try? ds.isDimensionScale()) != true,
                      let shape = try? ds.shape() else { continue }
                for axis in 0..<shape.count {
                    let attached = (try? ds.attachedScales(axis: axis)) ?? []
                    if attached.count != 1 {
                        problem(path, attached.isEmpty ? "axis \(axis) has no dimension scale attached (undeclared dataset; xarray would invent phony_dim names)"
                                                       : "axis \(axis) has \(attached.count) dimension scales, expected one")
                    }
                }
            }
        }
    }

    // MARK: Attributes

    mutating func checkAttributes(_ object: HDF5Object, specs: [TrajectorySchema.Attribute], objectPath: String) {
        for a in specs {
            let where_ = objectPath == "/" ? "/@\(a.name)" : "\(objectPath)@\(a.name)"
            guard object.hasAttribute(a.name) else {
                if a.required { problem(where_, "missing required attribute") }
                continue
            }
            guard let info = try? object.attributeInfo(a.name) else {
                problem(where_, "unreadable attribute")
                continue
            }
            if !typeMatches(info.type, a.type) {
                problem(where_, "has type \(info.type), expected \(a.type)")
                continue
            }
            let expectedShape = a.shape ?? []
            let actual = info.shape
            if actual != expectedShape && !(expectedShape.isEmpty && actual == [1]) {
                problem(where_, "has shape \(actual), expected \(expectedShape.isEmpty ? "scalar" : "\(expectedShape)")")
                continue
            }
            if let value = a.value, a.type == "string" {
                if let s = try? object.stringAttribute(a.name), s != value {
                    problem(where_, "is '\(s)', expected '\(value)'")
                }
            }
            if let allowed = a.values, a.type == "string", let s = try? object.stringAttribute(a.name), !allowed.contains(s) {
                problem(where_, "is '\(s)', expected one of \(allowed.joined(separator: ", "))")
            }
        }
    }

    func typeMatches(_ t: HDF5TypeInfo, _ name: String) -> Bool {
        switch name {
        case "string": return t.typeClass == .string
        default: return t.elementType?.rawValue == name
        }
    }

    // MARK: Sizes

    mutating func resolveSizes() {
        if let run = try? file.group("/run") {
            for (key, attr) in [("n", "n_samples"), ("k", "k"), ("p", "n_parameters"), ("a", "eigenvalue_threshold_capacity"),
                                ("c", "n_outputs"), ("j", "eigenvectors_stored")] {
                if run.hasAttribute(attr), let v = try? run.scalarAttribute(attr, as: Int64.self),
                   key != "c" && key != "j" || (v > Int64(Int32.min) && v < Int64(Int32.max)) { sizes[key] = Int(v) }
            }
        }
        // Format 2.0: c outputs (absent: 1), j stored eigenvectors (absent: k), n·c flattened.
        if let c = sizes["c"], c >= 1 { outputs = c }
        sizes["c"] = outputs
        if sizes["j"] == nil, let k = sizes["k"] { sizes["j"] = k }
        if let n = sizes["n"] {
            let (nc, overflow) = n.multipliedReportingOverflow(by: outputs)
            if !overflow { sizes["nc"] = nc }
        }
        if let root = try? file.root(), let v = try? root.attribute("format_version", as: Int64.self), v.count == 2 {
            major = Int(v[0])
        }
        if file.kind(of: "/data/X") == .dataset, let s = try? file.dataset("/data/X").shape(), s.count == 2 {
            sizes["d"] = s[1]
        } else if file.kind(of: "/feature") == .dataset, let s = try? file.dataset("/feature").shape(), s.count == 1 {
            sizes["d"] = s[0]
        }
    }

    /// Row count of a cadence's coordinate, when it exists.
    func coordinateLength(_ dim: String, for spec: TrajectorySchema.Dataset) -> (path: String, rows: Int)? {
        var coord = schema.dimension(dim)?.coordinate
        // Analysis results use their own /analysis/step coordinate (older in-place files: /trajectory/step).
        if dim == "step", spec.group == "/analysis", file.kind(of: "/analysis/step") == .dataset {
            coord = "/analysis/step"
        }
        guard let c = coord, c != spec.path, file.kind(of: c) == .dataset,
              let rows = try? file.dataset(c).rowCount() else { return nil }
        return (c, rows)
    }

    // MARK: Datasets

    func isRequired(_ spec: TrajectorySchema.Dataset) -> Bool {
        guard spec.required else { return false }
        if let unless = spec.requiredUnless {
            let satisfied = unless.allSatisfy { ref in
                let parts = ref.split(separator: "@", maxSplits: 1).map(String.init)
                guard parts.count == 2, file.kind(of: parts[0]) != nil,
                      let obj: HDF5Object = (try? file.group(parts[0])) ?? (try? file.dataset(parts[0])) else { return false }
                return obj.hasAttribute(parts[1])
            }
            if satisfied { return false }
        }
        return true
    }

    mutating func checkDataset(_ spec: TrajectorySchema.Dataset) {
        let path = spec.path
        guard let kind = file.kind(of: path) else {
            if isRequired(spec) {
                if let unless = spec.requiredUnless {
                    problem(path, "missing required dataset (required unless \(unless.joined(separator: " and ")) exist)")
                } else {
                    problem(path, "missing required dataset")
                }
            }
            return
        }
        guard kind == .dataset, let ds = try? file.dataset(path, chunkCacheBytes: 8 << 20) else {
            problem(path, "is not a dataset")
            return
        }
        if let p = ds.extentProblem() {
            problem(path, p)
            return
        }
        for r in spec.requires ?? [] where file.kind(of: r) == nil {
            problem(path, "requires \(r), which is missing")
        }
        guard let info = try? ds.typeInfo(), let shape = try? ds.shape() else {
            problem(path, "unreadable dataset")
            return
        }
        if !typeMatches(info, spec.dtype) {
            problem(path, "has dtype \(info), expected \(spec.dtype)")
            return
        }
        let dims = spec.dims(outputs: outputs) ?? []
        if let fixed = spec.shape, dims.isEmpty {
            if shape != fixed && !(fixed.isEmpty && shape == [1]) {
                problem(path, "has shape \(shape), expected \(fixed.isEmpty ? "scalar" : "\(fixed)")")
                return
            }
        } else if shape.count != dims.count {
            if outputs > 1, dims.contains("output"), shape.count + 1 == dims.count {
                problem(path, "has shape \(shape) without the output axis, expected [\(dims.joined(separator: ", "))] (/run@n_outputs = \(outputs): a multi-output file stores one value per sample and output, not one row broadcast over the outputs)")
            } else {
                problem(path, "has rank \(shape.count) (shape \(shape)), expected \(dims.count) (\(dims.joined(separator: ", ")))")
            }
            return
        }
        var shapeOK = true
        for (axis, dim) in dims.enumerated() {
            guard let dspec = schema.dimension(dim) else { continue }
            if let sym = dspec.size, let expected = sizes[sym] {
                if shape[axis] != expected {
                    problem(path, "axis \(axis) (\(dim)) has size \(shape[axis]), expected \(sym) = \(expected)")
                    shapeOK = false
                }
            } else if axis == 0, dspec.coordinate != nil, !isRunning, let c = coordinateLength(dim, for: spec),
                      shape[0] != c.rows {
                problem(path, "has \(shape[0]) rows but \(c.path) has \(c.rows) (inconsistent lengths on the '\(dim)' cadence)")
            }
        }
        checkScales(ds, spec: spec, dims: dims)
        if spec.dtype == "string" {
            if let allowed = spec.values {
                if let s = try? ds.readString() {
                    if !allowed.contains(s) {
                        problem(path, "bad value '\(s)' (expected one of \(allowed.joined(separator: ", ")))")
                    }
                } else {
                    problem(path, "unreadable string")
                }
            }
            return
        }
        guard shapeOK else { return }
        checkValues(ds, spec: spec, shape: shape)
    }

    mutating func checkScales(_ ds: HDF5Dataset, spec: TrajectorySchema.Dataset, dims: [String]) {
        let path = spec.path
        if spec.coordinate == true {
            if (try? ds.isDimensionScale()) != true {
                problem(path, "coordinate variable is not a dimension scale (H5DSset_scale)")
            }
            return
        }
        for (axis, dim) in dims.enumerated() {
            guard let attached = try? ds.attachedScales(axis: axis) else {
                problem(path, "axis \(axis) (\(dim)): dimension scales unreadable")
                continue
            }
            let names = attached.map { String($0.split(separator: "/").last ?? "") }
            if names.isEmpty {
                problem(path, "axis \(axis) (\(dim)) has no dimension scale")
            } else if names.count > 1 {
                problem(path, "axis \(axis) (\(dim)) has \(names.count) dimension scales (\(attached.joined(separator: ", "))), expected one")
            } else if names[0] != dim {
                problem(path, "axis \(axis) has dimension scale \(attached[0]), expected one named '\(dim)'")
            }
        }
    }

    // MARK: Values

    /// Reads `ds` in blocks of whole rows, calling `body(firstRow, rows, values)`.
    func forEachBlock(_ ds: HDF5Dataset, shape: [Int], rows: Int? = nil, _ body: (Int, Int, [Double]) -> Void) -> Bool {
        if shape.isEmpty {
            guard let v = try? ds.read(Double.self) else { return false }
            body(0, 1, v)
            return true
        }
        let total = rows ?? shape[0]
        // Rows of no values (an axis of extent 0) have nothing to scan; body gets rows × rowSize values.
        let rowSize = shape.dropFirst().reduce(1, *)
        guard rowSize > 0 else { return true }
        let per = max(1, v.blockBytes / (8 * rowSize))
        var start = 0
        while start < total {
            let end = min(total, start + per)
            guard let vals = try? ds.readRows(start..<end, as: Double.self), vals.count == (end - start) * rowSize else { return false }
            body(start, end - start, vals)
            start = end
        }
        return true
    }

    mutating func checkValues(_ ds: HDF5Dataset, spec: TrajectorySchema.Dataset, shape: [Int]) {
        let path = spec.path
        let needsScan = spec.finite == true || spec.monotonicAxis != nil || spec.checks?.contains("unit_norm_rows") == true
            || spec.checks?.contains("symmetric") == true
        if spec.monotonic == "increasing" {
            checkIncreasing(ds, path: path, shape: shape)
        }
        if needsScan {
            var nonFinite = 0, firstNonFinite = -1
            var notDescending = 0, firstNotDescending = -1
            var notUnit = 0, firstNotUnit = (-1, -1, 0.0)
            var asym = 0, firstAsym = -1
            let last = shape.last ?? 1
            let rowSize = max(1, shape.dropFirst().reduce(1, *))
            let checkUnit = spec.checks?.contains("unit_norm_rows") == true
            // Each vector spans every axis after the eig axis ([step, eig, sample(, output)]).
            let unitLength = shape.count >= 3 ? max(1, shape.dropFirst(2).reduce(1, *)) : last
            let checkSym = spec.checks?.contains("symmetric") == true && shape.count == 3 && shape[1] == shape[2]
            let ok = forEachBlock(ds, shape: shape) { first, rows, vals in
                for r in 0..<rows {
                    let base = r * rowSize
                    if spec.finite == true {
                        for i in base..<(base + rowSize) where !vals[i].isFinite {
                            nonFinite += 1
                            if firstNonFinite < 0 { firstNonFinite = first + r }
                        }
                    }
                    if spec.monotonicAxis == "descending" {
                        var bad = false
                        var j = base
                        while j + 1 < base + rowSize {
                            if (j - base + 1) % last != 0, vals[j + 1] > vals[j] { bad = true }
                            j += 1
                        }
                        if bad {
                            notDescending += 1
                            if firstNotDescending < 0 { firstNotDescending = first + r }
                        }
                    }
                    if checkUnit {
                        var i = 0
                        while i * unitLength < rowSize {
                            var s = 0.0
                            for j in 0..<unitLength { s += vals[base + i * unitLength + j] * vals[base + i * unitLength + j] }
                            let norm = s.squareRoot()
                            if !(abs(norm - 1) <= v.unitNormTolerance) {
                                notUnit += 1
                                if firstNotUnit.0 < 0 { firstNotUnit = (first + r, i, norm) }
                            }
                            i += 1
                        }
                    }
                    if checkSym {
                        let m = shape[1]
                        var bad = false
                        var scale = 0.0
                        for i in 0..<(m * m) { scale = max(scale, abs(vals[base + i])) }
                        for i in 0..<m {
                            for j in (i + 1)..<max(i + 1, m) where abs(vals[base + i * m + j] - vals[base + j * m + i]) > v.equalityTolerance * scale {
                                bad = true
                            }
                        }
                        if bad {
                            asym += 1
                            if firstAsym < 0 { firstAsym = first + r }
                        }
                    }
                }
            }
            if !ok { problem(path, "unreadable values") }
            if nonFinite > 0 {
                problem(path, "\(nonFinite) non-finite values (NaN or Inf) where all must be finite, first in row \(firstNonFinite)\(stepNote(spec, firstNonFinite))")
            }
            if notDescending > 0 {
                problem(path, "not descending along the last axis in \(notDescending) rows, first row \(firstNotDescending)\(stepNote(spec, firstNotDescending))")
            }
            if notUnit > 0 {
                problem(path, "\(notUnit) vectors without unit norm, first in row \(firstNotUnit.0)\(stepNote(spec, firstNotUnit.0)) index \(firstNotUnit.1) (norm \(firstNotUnit.2))")
            }
            if asym > 0 {
                problem(path, "not symmetric in \(asym) rows, first row \(firstAsym)\(stepNote(spec, firstAsym))")
            }
        }
        for check in spec.checks ?? [] {
            let parts = check.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "mean_square_of": checkMeanSquare(ds, spec: spec, other: parts[1])
            case "equals_first_eigenvalue": checkFirstColumn(ds, spec: spec, other: parts[1])
            default: break
            }
        }
    }

    /// " (step s)" for main-cadence rows, when the step can be read.
    func stepNote(_ spec: TrajectorySchema.Dataset, _ row: Int) -> String {
        guard row >= 0, let dim = spec.dims?.first, let coord = schema.dimension(dim)?.coordinate,
              coord != spec.path, file.kind(of: coord) == .dataset,
              let ds = try? file.dataset(coord), let n = try? ds.rowCount(), row < n,
              let s = try? ds.readRows(row..<(row + 1), as: Int64.self) else { return "" }
        return " (\(dim) \(s[0]))"
    }

    mutating func checkIncreasing(_ ds: HDF5Dataset, path: String, shape: [Int]) {
        guard shape.count == 1 else { return }
        var prev: Int64?
        var bad = 0
        var first: (Int, Int64, Int64)?
        let per = max(1, v.blockBytes / 8)
        var start = 0
        while start < shape[0] {
            let end = min(shape[0], start + per)
            guard let vals = try? ds.readRows(start..<end, as: Int64.self) else {
                problem(path, "unreadable values")
                return
            }
            for (i, s) in vals.enumerated() {
                if let p = prev, !SeriesInvariants.isIncreasing(p, then: s) {
                    bad += 1
                    if first == nil { first = (start + i, p, s) }
                }
                prev = s
            }
            start = end
        }
        if let f = first {
            problem(path, "steps not strictly increasing at \(bad) rows, first at row \(f.0) (\(f.1) then \(f.2))")
        }
    }

    /// loss[t] = mean(residual[t, :]²) to the loss tolerance (relative).
    mutating func checkMeanSquare(_ ds: HDF5Dataset, spec: TrajectorySchema.Dataset, other: String) {
        guard file.kind(of: other) == .dataset, let o = try? file.dataset(other, chunkCacheBytes: 8 << 20), o.extentProblem() == nil,
              let oshape = try? o.shape(), oshape.count == (outputs > 1 ? 3 : 2), let rows = try? ds.rowCount(),
              (try? o.typeInfo().elementType) == .float64 else { return }
        // Rows of n·c values; L = factor·‖D‖_F²/n (n samples).
        let n = oshape.dropFirst().reduce(1, *), samples = Double(oshape[1])
        let common = min(rows, oshape[0])
        var bad = 0
        var first: (Int, Double, Double)?
        let per = max(1, v.blockBytes / (8 * max(1, n)))
        // The loss in the file's stated convention: half of mean(residual²) for Cohen et al.'s.
        let run = try? file.group("/run")
        let stated = run.flatMap { $0.hasAttribute("loss_convention") ? try? $0.stringAttribute("loss_convention") : nil }
        let factor = stated == LossConvention.halfMeanSquaredError.rawValue ? 0.5
            : stated == LossConvention.msePerOutput.rawValue ? 1 / Double(outputs) : 1.0
        var start = 0
        while start < common {
            let end = min(common, start + per)
            guard let l = try? ds.readRows(start..<end, as: Double.self),
                  let r = try? o.readRows(start..<end, as: Double.self) else { return }
            for i in 0..<(end - start) {
                var s = 0.0
                for j in 0..<n { s += r[i * n + j] * r[i * n + j] }
                let mean = factor * s / samples
                if !(abs(l[i] - mean) <= v.lossTolerance * max(abs(mean), abs(l[i]))) && l[i].isFinite && mean.isFinite {
                    bad += 1
                    if first == nil { first = (start + i, l[i], mean) }
                }
            }
            start = end
        }
        if let f = first {
            let name = other.split(separator: "/").last!
            let what = outputs > 1 ? "\(factor == 1 ? "" : factor == 0.5 ? "½·" : "(1/c)·")sum(\(name)²)/n"
                                   : "\(factor == 1 ? "" : "½·")mean(\(name)²)"
            problem(spec.path, "differs from \(what) beyond \(v.lossTolerance) relative in \(bad) rows, first row \(f.0)\(stepNote(spec, f.0)): \(f.1) vs \(f.2)")
        }
    }

    /// sharpness[t] = eigenvalues[t, 0].
    mutating func checkFirstColumn(_ ds: HDF5Dataset, spec: TrajectorySchema.Dataset, other: String) {
        guard file.kind(of: other) == .dataset, let o = try? file.dataset(other), o.extentProblem() == nil,
              let oshape = try? o.shape(), oshape.count == 2, oshape[1] >= 1, let rows = try? ds.rowCount() else { return }
        let k = oshape[1]
        let common = min(rows, oshape[0])
        var bad = 0
        var first: (Int, Double, Double)?
        let per = max(1, v.blockBytes / (8 * k))
        var start = 0
        while start < common {
            let end = min(common, start + per)
            guard let a = try? ds.readRows(start..<end, as: Double.self),
                  let b = try? o.readRows(start..<end, as: Double.self) else { return }
            for i in 0..<(end - start) {
                let x = a[i], y = b[i * k]
                if !(abs(x - y) <= v.equalityTolerance * max(abs(x), abs(y))) && x.isFinite && y.isFinite {
                    bad += 1
                    if first == nil { first = (start + i, x, y) }
                }
            }
            start = end
        }
        if let f = first {
            problem(spec.path, "differs from \(other)[:, 0] in \(bad) rows, first row \(f.0)\(stepNote(spec, f.0)): \(f.1) vs \(f.2)")
        }
    }
}

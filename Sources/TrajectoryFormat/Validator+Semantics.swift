import Foundation
import HDF5Kit

/// Checks that relate values across objects, beyond what each dataset's schema entry says:
///
/// - `/run@n_parameters`, when not 0 (unknown), equals the parameter count of `/run@model` (MLP: Σ in·out (+ out with
///   bias) over the layers d → widths → 1; two-layer linear: m·d + m), and the model's
///   `input_dim` equals d (the columns of /data/X);
/// - a `completed` run has at least one recorded step;
/// - the k ≥ 2 eigenvectors of each step are orthonormal: |⟨v_i, v_j⟩| ≤ `orthogonalityTolerance`
///   for i ≠ j (their norms are `unit_norm_rows`) — rows broadcast from one vector fail this;
/// - the k ≥ 2 eigenvalues of a step are not k identical non-zero copies (a row broadcast from
///   one value; genuine top eigenvalues of M are not bit-for-bit equal, and exact zeros of a
///   rank-deficient M are allowed).
extension Run {
    /// The parameter count and input dimension a model description implies, or nil (external
    /// models, unparsable JSON, or a count that overflows).
    static func modelSize(_ json: String, outputs c: Int = 1) -> (p: Int, inputDim: Int)? {
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
              let kind = obj["kind"] as? String, let d = obj["input_dim"] as? Int, d >= 1 else { return nil }
        var layers: [Int]
        var bias = false
        switch kind {
        case "mlp":
            guard let widths = obj["widths"] as? [Int], widths.allSatisfy({ $0 >= 1 }) else { return nil }
            layers = [d] + widths + [c]
            bias = (obj["bias"] as? Bool) ?? true
        case "two_layer_linear":
            guard let m = obj["width"] as? Int, m >= 1 else { return nil }
            // θ = [W (m × d), A (m; c × m for c outputs)]
            guard let w = SeriesInvariants.checkedProduct([m, d]), let a = SeriesInvariants.checkedProduct([m, c]),
                  w <= Int.max - a else { return nil }
            return (w + a, d)
        default:
            return nil
        }
        var p = 0
        for (a, b) in zip(layers, layers.dropFirst()) {
            guard let w = SeriesInvariants.checkedProduct([a, b]) else { return nil }
            let add = bias ? w.addingReportingOverflow(b) : (w, false)
            let sum = p.addingReportingOverflow(add.0)
            if add.1 || sum.1 { return nil }
            p = sum.0
        }
        return (p, d)
    }

    mutating func checkModelSize() {
        guard let run = try? file.group("/run"), run.hasAttribute("model"),
              let text = try? run.stringAttribute("model"), let m = Self.modelSize(text, outputs: outputs) else { return }
        if let p = sizes["p"], p != 0, p != m.p {  // 0: unknown (the schema's convention)
            problem("/run@n_parameters", "is \(p), but /run@model has \(m.p) parameters")
        }
        if let d = sizes["d"], d != m.inputDim {
            problem("/run@model", "has input_dim \(m.inputDim), but the data have d = \(d) features")
        }
    }

    /// Format 2.0: `/run@n_outputs` exists exactly in 2.x files (c ≥ 1; a 1.x file has c = 1),
    /// and `/run@eigenvectors_stored` is in 1...k.
    mutating func checkOutputs() {
        guard let run = try? file.group("/run") else { return }
        let has = run.hasAttribute("n_outputs")
        if major >= 2 && !has {
            problem("/run@n_outputs", "missing (required in format \(major).x: the number of outputs c)")
        } else if major < 2 && has {
            problem("/run@n_outputs", "present in a format \(major).x file (a file with c outputs is format 2.0; write format_version [2, 0])")
        }
        if has, let c = try? run.scalarAttribute("n_outputs", as: Int64.self), c < 1 {
            problem("/run@n_outputs", "is \(c), expected ≥ 1")
        }
        if run.hasAttribute("eigenvectors_stored"), let j = try? run.scalarAttribute("eigenvectors_stored", as: Int64.self),
           j < 1 || (sizes["k"].map { j > Int64($0) } ?? false) {
            problem("/run@eigenvectors_stored", "is \(j), expected 1 ≤ j ≤ k = \(sizes["k"] ?? 0)")
        }
    }

    mutating func checkCompletedHasSteps() {
        guard file.kind(of: "/run/status") == .dataset, (try? file.dataset("/run/status").readString()) == "completed",
              file.kind(of: "/trajectory/step") == .dataset, let rows = try? file.dataset("/trajectory/step").rowCount(),
              rows == 0 else { return }
        problem("/run/status", "is 'completed' but /trajectory/step has no rows (a completed run has at least step 0)")
    }

    mutating func checkEigenRows() {
        checkConventions()   // stated conventions checked against the data (ConventionCheck.swift)
        checkOrthonormalEigenvectors()
        checkBroadcastEigenvalues()
    }

    /// A float64 dataset of the given rank with a plausible extent, and its shape.
    func plausible(_ path: String, rank: Int) -> (HDF5Dataset, [Int])? {
        guard file.kind(of: path) == .dataset, let ds = try? file.dataset(path, chunkCacheBytes: 8 << 20),
              (try? ds.typeInfo().elementType) == .float64, let shape = try? ds.shape(), shape.count == rank,
              ds.extentProblem() == nil else { return nil }
        return (ds, shape)
    }

    mutating func checkOrthonormalEigenvectors() {
        let path = "/trajectory/eigenvectors"
        guard let (ds, shape) = plausible(path, rank: outputs > 1 ? 4 : 3), shape[1] >= 2, shape[2] >= 1 else { return }
        // Vectors of n·c values (c > 1: [step, eigenvector, sample, output]).
        let k = shape[1], n = shape.dropFirst(2).reduce(1, *), tol = v.orthogonalityTolerance
        var bad = 0
        var first: (row: Int, i: Int, j: Int, dot: Double, identical: Bool)?
        _ = forEachBlock(ds, shape: shape) { start, rows, vals in
            for r in 0..<rows {
                let base = r * k * n
                var worst: (Int, Int, Double, Bool)?
                for i in 0..<k {
                    for j in (i + 1)..<k {
                        var dot = 0.0
                        var same = true
                        for c in 0..<n {
                            let a = vals[base + i * n + c], b = vals[base + j * n + c]
                            dot += a * b
                            if a != b { same = false }
                        }
                        if !(abs(dot) <= tol), dot.isFinite, worst == nil || abs(dot) > abs(worst!.2) {
                            worst = (i, j, dot, same)
                        }
                    }
                }
                if let w = worst {
                    bad += 1
                    if first == nil { first = (start + r, w.0, w.1, w.2, w.3) }
                }
            }
        }
        if let f = first {
            let what = f.identical ? "identical (rows broadcast from one vector?)" : "not orthogonal"
            problem(path, "eigenvectors of one step are not orthonormal in \(bad) rows, first row \(f.row)\(stepNote(path, f.row)): v_\(f.i) and v_\(f.j) are \(what), ⟨v_\(f.i), v_\(f.j)⟩ = \(f.dot) (tolerance \(tol))")
        }
    }

    mutating func checkBroadcastEigenvalues() {
        let path = "/trajectory/eigenvalues"
        guard let (ds, shape) = plausible(path, rank: 2), shape[1] >= 2 else { return }
        let k = shape[1]
        var bad = 0
        var first: (Int, Double)?
        _ = forEachBlock(ds, shape: shape) { start, rows, vals in
            for r in 0..<rows {
                let row = vals[(r * k)..<((r + 1) * k)]
                let x = row.first!
                if x != 0, x.isFinite, row.allSatisfy({ $0 == x }) {
                    bad += 1
                    if first == nil { first = (start + r, x) }
                }
            }
        }
        if let f = first {
            problem(path, "all \(k) eigenvalues are the same value in \(bad) rows, first row \(f.0)\(stepNote(path, f.0)): \(f.1) (rows broadcast from one value?)")
        }
    }

    /// `stepNote` for a dataset path of the schema.
    func stepNote(_ path: String, _ row: Int) -> String {
        guard let spec = schema.dataset(path) else { return "" }
        return stepNote(spec, row)
    }
}

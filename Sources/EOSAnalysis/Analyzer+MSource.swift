import Foundation

extension Analyzer {
    /// Decides which M-dependent results the recorded products serve.
    ///
    /// - `gram_residual` serves the first-order error of D at every consecutive pair (and, with X,
    ///   the two-layer linear M* check);
    /// - `r_prime_from_start` serves R′ from the start, and `r_prime` the primary R′ restarted at
    ///   every phase-II start of the default rule — when the analyzed rows begin at the recording's
    ///   first step, have no gaps, and `rPrimeWindow` is unset (a window restarts R′ at steps the
    ///   recorder did not). The excursion options do not move the restarts, so they are served.
    /// - The recorded chains are checked where they must equal R: at the first row and at every
    ///   restart (‖R − R′‖ ≤ 1e-8‖R‖); a chain that fails is not used (its note says where).
    static func makePlan(_ input: AnalysisInput, options: AnalysisOptions, restartRows: [Int], pairs: Int,
                         verify: Bool) throws -> MPlan {
        var plan = MPlan()
        // The exact M* update (README, What it computes) is the scalar-output identity; with c > 1
        // outputs it is not checked.
        plan.linear = input.modelKind == "two_layer_linear" && input.outputCount == 1
        plan.verify = verify
        guard let p = input.products, !p.isEmpty else { return plan }
        let t = input.count
        var chainsWhy: String?
        if !p.startsAtFirstRecordedStep {
            chainsWhy = "the analyzed steps start after the recording's first step, where the recorded chains start"
        } else if pairs != t - 1 {
            chainsWhy = "the recorded steps have gaps (the analysis restarts R′ after each)"
        }
        if p.gramResidual != nil { plan.firstOrder = true } else { plan.notes["first_order_residual"] = "no gram_residual in the file" }
        if plan.linear {
            if p.gramResidual != nil && p.linear != nil { plan.exactUpdate = true } else {
                plan.notes["exact_update"] = p.gramResidual == nil ? "no gram_residual in the file" : "X is not stored in the file"
            }
        }
        func chainMismatch(_ chain: (@Sendable (Int) throws -> [Double]), rows: [Int]) throws -> String? {
            let n = input.dimension   // n·c
            for row in rows {
                let d = input.residualVector(row: row)
                let v = input.leadingEigenvector(row: row)
                let c1 = dot(d, v)
                var r = [Double](repeating: 0, count: n)
                for j in 0..<n { r[j] = d[d.startIndex + j] - c1 * v[v.startIndex + j] }
                let rec = try chain(row)
                let e = distance(r[...], rec[...]), rn = norm2(r[...])
                if !(e <= 1e-8 * rn + 1e-300) {
                    return "the recorded chain is not R at step \(input.steps[row]) (‖R − R′‖/‖R‖ = \(String(format: "%.3g", e / max(rn, .leastNormalMagnitude)))), where the default rule restarts it"
                }
            }
            return nil
        }
        if let chain = p.rPrimeFromStart {
            if let why = chainsWhy { plan.notes["r_prime_from_start"] = why } else if let bad = try chainMismatch(chain, rows: [0]) {
                plan.notes["r_prime_from_start"] = bad
            } else { plan.fromStart = true }
        } else { plan.notes["r_prime_from_start"] = "no r_prime_from_start in the file" }
        let primaryChain = options.rPrimeRestarts ? p.rPrime : p.rPrimeFromStart
        if let w = options.rPrimeWindow {
            plan.notes["r_prime"] = "--r-prime-window \(w) restarts R′ every \(w) steps; the recorded chain restarts only at phase-II starts"
        } else if let chain = primaryChain {
            let rows = options.rPrimeRestarts ? Array(Set([0] + restartRows)).sorted() : [0]
            if let why = chainsWhy { plan.notes["r_prime"] = why } else if let bad = try chainMismatch(chain, rows: rows) {
                plan.notes["r_prime"] = bad
            } else { plan.primary = true }
        } else {
            plan.notes["r_prime"] = "no \(options.rPrimeRestarts ? "r_prime" : "r_prime_from_start") in the file"
        }
        return plan
    }

    /// One `MResultSource` per M-dependent result.
    static func resultSources(_ input: AnalysisInput, _ series: RowSeries, plan: MPlan, provider: GramProvider?,
                              counts: GramApplicationCounts) -> [MResultSource] {
        func make(_ name: String, fromProducts: Bool, values: [Double], exact: [UInt8]) -> MResultSource {
            var rows = 0, exactRows = 0
            for i in values.indices where values[i].isFinite {
                rows += 1
                if exact[i] == 1 { exactRows += 1 }
            }
            let kind: MSourceKind
            var label: String
            if fromProducts {
                kind = .recordedProducts
                label = MSourceKind.recordedProducts.words
            } else if let provider {
                switch provider.source {
                case .exact where provider is ReplayGramProvider:
                    kind = exactRows == rows ? .replayWithinTolerance : .replayBeyondTolerance
                    label = kind.words + " (\(provider.label))"
                case .exact:
                    kind = .replayWithinTolerance
                    label = provider.label
                case .storedGram:
                    kind = .storedGram
                    label = MSourceKind.storedGram.words + " (\(provider.label))"
                case .topK:
                    kind = .topK
                    label = MSourceKind.topK.words
                }
                if kind != .topK && exactRows < rows {
                    let why = provider is ReplayGramProvider
                        ? "drift > \(replayDriftTolerance)\(counts.topKFallback > 0 ? " or top-k before the first checkpoint" : "")"
                        : "top-k approximation there"
                    label += ": not exact at \(rows - exactRows) of \(rows) rows (\(why))"
                }
            } else {
                kind = .topK
                label = MSourceKind.topK.words
            }
            return MResultSource(result: name, source: kind.rawValue, label: label, rows: rows, exactRows: exactRows,
                                 exact: rows > 0 ? exactRows == rows : kind != .topK, note: plan.notes[name])
        }
        var out = [
            make("first_order_residual", fromProducts: plan.firstOrder, values: series.firstOrderError, exact: series.firstOrderExact),
            make("r_prime", fromProducts: plan.primary, values: series.rPrimeRelError, exact: series.rPrimeExact),
            make("r_prime_from_start", fromProducts: plan.fromStart, values: series.rPrimeRelErrorFromStart,
                 exact: series.rPrimeFromStartExact),
        ]
        if series.exactUpdateErrorRelativeToResidual.contains(where: \.isFinite) || plan.linear {
            out.append(make("exact_update", fromProducts: plan.exactUpdate, values: series.exactUpdateErrorRelativeToResidual,
                            exact: series.exactUpdateExact))
        }
        return out
    }

    /// Drift per checkpoint interval (and, with products, the replayed products against them).
    static func verification(_ input: AnalysisInput, _ series: RowSeries, checkpointSteps: [Int64],
                             plan: MPlan) -> ReplayVerification {
        let tol = replayDriftTolerance
        var intervals: [DriftInterval] = []
        var firstBeyond: Int64?
        var beyond = 0
        func maxFinite(_ v: [Double], _ rows: [Int]) -> Double? {
            let xs = rows.map { v[$0] }.filter(\.isFinite)
            return xs.isEmpty ? nil : xs.max()
        }
        for (j, from) in checkpointSteps.enumerated() {
            let to = j + 1 < checkpointSteps.count ? checkpointSteps[j + 1] : Int64.max
            let rows = input.steps.indices.filter { input.steps[$0] >= from && input.steps[$0] < to && series.replayDrift[$0].isFinite }
            guard !rows.isEmpty else { continue }
            let drifts = rows.map { series.replayDrift[$0] }
            let bad = rows.filter { !(series.replayDrift[$0] <= tol) }
            beyond += bad.count
            if firstBeyond == nil, let b = bad.first { firstBeyond = input.steps[b] }
            intervals.append(DriftInterval(fromStep: from, toStep: input.steps[rows.last!], rows: rows.count,
                                           maxDrift: drifts.max() ?? 0, rowsBeyondTolerance: bad.count,
                                           firstStepBeyondTolerance: bad.first.map { input.steps[$0] },
                                           maxGramResidualDifference: maxFinite(series.gramResidualDifference, rows)))
        }
        let all = Array(input.steps.indices)
        return ReplayVerification(tolerance: tol, intervals: intervals, rowsBeyondTolerance: beyond,
                                  firstStepBeyondTolerance: firstBeyond,
                                  maxGramResidualDifference: maxFinite(series.gramResidualDifference, all),
                                  maxRPrimeDifference: maxFinite(series.rPrimeDifference, all),
                                  maxRPrimeFromStartDifference: maxFinite(series.rPrimeFromStartDifference, all))
    }
}

import Foundation

extension AnalysisResult {
    /// JSON with snake_case keys in sorted order, pretty-printed. Non-finite numbers are written as
    /// the strings "NaN", "Infinity", "-Infinity". Same result → same bytes.
    public func jsonData(includePerStep: Bool = true) throws -> Data {
        var copy = self
        if !includePerStep { copy.perStep = PerStepTable.empty }
        return try Self.encoder().encode(copy)
    }

    /// Encoder used for every JSON the analysis writes (result, options, summary attributes).
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.keyEncodingStrategy = .convertToSnakeCase
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }

    /// Decoder matching `encoder()`.
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }

    /// Compact one-line JSON of the options (the `/analysis@options` attribute).
    public func optionsJSON() throws -> String {
        try withMSources(String(decoding: try Self.encoder(pretty: false).encode(options), as: UTF8.self))
    }

    /// Compact JSON of everything except the per-step table (the `/analysis@summary` attribute).
    /// HDF5 1.10-compatible files limit an attribute to 64 KiB: above `maxBytes` the per-cycle and
    /// per-anomaly lists are emptied (`--json` always has everything).
    public func summaryJSON(maxBytes: Int = 60_000) throws -> String {
        var copy = self
        copy.perStep = .empty
        var text = String(decoding: try Self.encoder(pretty: false).encode(copy), as: UTF8.self)
        if text.utf8.count > maxBytes {
            copy.anomalies.steps = []
            copy.anomalies.signChangeSteps = []
            copy.phases.cycles = []
            copy.checks.assumption36 = []
            text = String(decoding: try Self.encoder(pretty: false).encode(copy), as: UTF8.self)
        }
        return text
    }

    /// Column names of the per-step CSV, in order.
    public static let csvColumns = [
        "step", "phase", "loss", "sharpness", "output_norm_sq", "dtf", "c1", "r_norm_sq",
        "r_prime_error", "r_prime_rel_error", "r_prime_error_from_start", "r_prime_rel_error_from_start",
        "anomaly", "eps2", "first_order_error", "output_norm_first_order_error", "c1_ratio", "exact_update_error", "replay_drift",
        "first_order_exact", "r_prime_exact", "r_prime_from_start_exact",
    ]

    /// The per-step table as CSV: a header line, then one line per row. Numbers use Swift's
    /// shortest round-trip form; undefined values are `nan` (pair quantities at row t refer to (t, t+1)).
    public func csv() -> String {
        let p = perStep
        var out = Self.csvColumns.joined(separator: ",") + "\n"
        out.reserveCapacity(p.step.count * 200)
        for i in 0..<p.step.count {
            let doubles = [p.loss[i], p.sharpness[i], p.outputNormSq[i], p.dtf[i], p.c1[i], p.rNormSq[i],
                           p.rPrimeError[i], p.rPrimeRelError[i], p.rPrimeErrorFromStart[i], p.rPrimeRelErrorFromStart[i]]
            var fields = ["\(p.step[i])", "\(p.phase[i])"] + doubles.map(csvNumber)
            fields.append("\(p.anomaly[i])")
            fields += [p.eps2[i], p.firstOrderError[i], p.outputNormFirstOrderError[i], p.c1Ratio[i], p.exactUpdateError[i], p.replayDrift[i]].map(csvNumber)
            for flags in [p.firstOrderExact, p.rPrimeExact, p.rPrimeFromStartExact] { fields.append(flags.map { "\($0[i])" } ?? "") }
            out += fields.joined(separator: ",")
            out += "\n"
        }
        return out
    }

    /// Human summary: run, phases and cycles, R′ error, anomalies, checks, story.
    public func summaryText(maxCycles: Int = 12) -> String {
        var s = ""
        func line(_ x: String = "") { s += x + "\n" }
        line("Run: \(run.rows) recorded steps (\(run.firstStep)…\(run.lastStep)), \(run.consecutivePairs) consecutive pairs, \(run.gaps) gaps; n=\(run.n), k=\(run.k), η=\(g(run.learningRate)), 2/η=\(g(run.threshold))" + (run.modelKind.map { ", model \($0)" } ?? ""))
        line("Gram M(t): \(gram.label)" + (gram.approximate ? "  [APPROXIMATE: results marked * depend on it]" : ""))
        if let note = gram.note { line("  (\(note))") }
        if let r = gram.replay {
            line("Replay: \(r.checkpoints) checkpoints; max relative drift of D \(g(r.maxRelativeDriftResidual))"
                 + (r.maxDriftStep.map { " at step \($0)" } ?? "")
                 + ", of θ at checkpoints \(g(r.maxRelativeDriftCheckpoint)) (tolerance \(g(r.tolerance)): \(r.withinTolerance ? "ok" : "EXCEEDED"))")
        }
        for l in mSourceLines() { line(l) }
        line()
        line("Phases (rule: \(options.phaseRule.rawValue)):  I \(phases.rows.phase1)  II \(phases.rows.phase2)  III \(phases.rows.phase3)  IV \(phases.rows.phase4) rows")
        let ex = phases.excursions
        let exText = ex.isDefault ? "every run above 2/η" : "runs merged across gaps < \(ex.mergeGap) steps, kept with ≥ \(ex.minSteps) steps above 2/η and peak > (1+\(g(ex.minMargin)))·2/η"
        line("Cycles: \(phases.cycleText) (\(phases.completeCycles) complete; excursions: \(exText))")
        if !phases.cycles.isEmpty {
            line(pad(["#", "II start", "peak", "III end", "IV end", "II", "III", "IV", "Λ peak", "L(p)", "L rise III", "IV ended by"]))
            for c in phases.cycles.prefix(maxCycles) {
                line(pad(["\(c.index)", "\(c.startStep)", "\(c.peakStep)", "\(c.endStep)", c.ivEndStep.map { "\($0)" } ?? "empty",
                          "\(c.stepsPhase2)", "\(c.stepsPhase3)", "\(c.stepsPhase4)", g(c.peakSharpness), g(c.lossAtPeak),
                          g(c.lossRisePhase3), c.ivEndReason.rawValue]))
            }
            if phases.cycles.count > maxCycles { line("  … \(phases.cycles.count - maxCycles) more cycles (see --json)") }
        }
        line()
        let star = gram.approximate ? "*" : ""
        line("R′ tracking\(star) (M: \(rPrime.gramSource)):")
        for r in [rPrime.fromStart, rPrime.primary] {
            line("  \(r.mode) (\(r.starts) starts): ‖R−R′‖ median \(g(r.absError.all.median)), p90 \(g(r.absError.all.p90)), max \(g(r.absError.all.max)); relative median \(g(r.relError.all.median)), p90 \(g(r.relError.all.p90)), max \(g(r.relError.all.max))")
        }
        line()
        line("Anomaly points: \(anomalies.count) of \(anomalies.pairs) pairs (rate \(g(anomalies.rate))); \(anomalies.nearSignChange) within \(anomalies.window) steps of one of \(anomalies.signChanges) sign changes of Δ‖A‖² (chance level: \(g(anomalies.pairsNearSignChangeRate)) of all pairs are that close)")
        line()
        line("Checks (rate = hits/total; distributions median / p90 / max):")
        line(pad(["check", "all", "I", "II", "III", "IV"], widths: [44, 22, 22, 22, 22, 22]))
        func rateRow(_ name: String, _ r: PerPhase<Rate>) {
            line(pad([name] + [r.all, r.phase1, r.phase2, r.phase3, r.phase4].map { $0.total == 0 ? "-" : "\(g($0.rate)) (\($0.total))" },
                     widths: [44, 22, 22, 22, 22, 22]))
        }
        func distRow(_ name: String, _ d: PerPhase<Distribution>) {
            line(pad([name] + [d.all, d.phase1, d.phase2, d.phase3, d.phase4].map { $0.count == 0 ? "-" : "\(g($0.median))/\(g($0.p90))/\(g($0.max))" },
                     widths: [44, 22, 22, 22, 22, 22]))
        }
        rateRow("3.1 co-movement sign(ΔΛ)=sign(Δ‖A‖)", checks.coMovement)
        distRow("3.2 first-order error of D\(star)", checks.firstOrderResidual)
        distRow("3.2 first-order error of ‖A‖²", checks.firstOrderOutputNorm)
        if let b = checks.outputBias, b.error.all.count > 0 { distRow("3.2 ‖A‖² bias-exact −(4η/n)Dᵀ(F−b)", b.error) }
        distRow("3.5(iii) ε2 = 1−|⟨v1(t),v1(t+1)⟩|", checks.eps2)
        if let a = checks.assumption37 { rateRow("3.7 λ2 < 1/η", a) }
        if let o = checks.outputLayerRatio { distRow("λmax(M_A)/Λ", o) }
        if let p = checks.proposition31 { rateRow("Prop 3.1 DᵀF>0 when ‖D‖>‖Y‖", p) }
        if let p = checks.proposition32Bound { rateRow("Prop 3.2 bound when ‖D‖>‖Y‖", p) }
        if let p = checks.proposition32Direction { rateRow("Prop 3.2 direction Δ‖A‖²<0", p) }
        distRow("Lemma 3.2 |c1(t+1)/c1(t)| (II–III)", checks.lemma32.measuredRatio)
        rateRow("‖R‖² decreases", decomposition.rNormSqDecreases)
        rateRow("L decreases", decomposition.lossDecreases)
        line("Lemma 3.2: predicted |1−ηΛ| median \(g(checks.lemma32.predictedRatio.median)); log(measured/predicted) median \(g(checks.lemma32.logRatioError.median)); growth rate \(g(checks.lemma32.growth.rate)) of \(checks.lemma32.growth.total) pairs (\(checks.lemma32.excludedBelowFloor) with |c1| ≤ \(g(options.c1Floor))·‖D‖ left out)")
        line("3.6 at phase-II starts: holds (c > 1) at \(checks.assumption36Holds.hits) of \(checks.assumption36Holds.total) with ε2 = max over the phase-II pairs; at \(checks.assumption36HoldsAtStart.hits) of \(checks.assumption36HoldsAtStart.total) with ε2 at the start step")
        if let b = checks.outputBias {
            line("3.2 ‖A‖² with the output bias b (\(b.note)): median error \(g(b.error.all.median)) against the paper's \(g(checks.firstOrderOutputNorm.all.median)); first pair \(g(b.firstPairError)) against \(g(b.firstPairPaperError)); median b \(g(b.medianBias))")
        }
        let rg = checks.regimes
        line("3.1 by regime: hover (\(rg.hoverRuns) runs of ≥ \(options.hoverMinSteps) steps with |ηΛ/2−1| ≤ \(g(options.hoverMargin)), \(rg.hoverRows) rows) \(g(rg.coMovementHover.rate)) (\(rg.coMovementHover.total)); catapult (phases II–IV outside hovers, \(rg.catapultRows) rows) \(g(rg.coMovementCatapult.rate)) (\(rg.coMovementCatapult.total)); other \(g(rg.coMovementOther.rate)) (\(rg.coMovementOther.total))")
        if !checks.phase2Lengths.isEmpty {
            line()
            line("Phase II length from Lemma 3.2's growth law (τ: first τ with |c1(a)|·Π|1−ηΛ(t)| ≥ ‖D(a)‖; measured: steps a→peak):")
            line(pad(["#", "II start", "|c1|/‖D‖", "floor", "predicted", "measured", "growth meas.", "|1−ηΛ|", "pairs"]))
            for item in checks.phase2Lengths.prefix(maxCycles) {
                line(pad(["\(item.cycle)", "\(item.startStep)", g(item.c1Share) + (item.startBelowFloor ? "*" : ""), g(item.floorShare),
                          item.predictedSteps.map { "\($0)" } ?? "never", "\(item.measuredSteps)",
                          g(item.measuredGrowth), g(item.predictedGrowth), "\(item.pairsAboveFloor)"]))
            }
            if checks.phase2Lengths.count > maxCycles { line("  … \(checks.phase2Lengths.count - maxCycles) more (see --json)") }
            if checks.phase2Lengths.contains(where: \.startBelowFloor) { line("  * |c1(a)| at or below the eigenvector's accuracy floor: the prediction starts from noise") }
        }
        if let e = checks.exactUpdate {
            line("Two-layer linear exact update: ‖D(t+1)−(I−ηM*)D(t)‖/‖D(t+1)‖ median \(g(e.relativeToResidual.median)), max \(g(e.relativeToResidual.max))")
        }
        line()
        line("How much of the paper's story this run supports:")
        for item in story {
            line("  [\(item.verdict)] \(item.claim): \(item.measure) = \(g(item.value))  (on \(item.basis))")
        }
        return s
    }
}

extension PerStepTable {
    static let empty = PerStepTable(step: [], phase: [], loss: [], sharpness: [], outputNormSq: [], dtf: [], c1: [],
                                    rNormSq: [], rPrimeError: [], rPrimeRelError: [], rPrimeErrorFromStart: [],
                                    rPrimeRelErrorFromStart: [], anomaly: [], eps2: [], firstOrderError: [],
                                    outputNormFirstOrderError: [], c1Ratio: [], exactUpdateError: [], replayDrift: [])
}

func csvNumber(_ x: Double) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    return "\(x)"
}

/// Four significant digits for the human summary.
func g(_ x: Double) -> String {
    if x.isNaN { return "n/a" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    return String(format: "%.4g", x)
}

private func pad(_ cells: [String], widths: [Int]? = nil) -> String {
    var s = ""
    for (i, c) in cells.enumerated() {
        let w = widths.map { i < $0.count ? $0[i] : 12 } ?? (i == 0 ? 4 : 11)
        let len = c.count
        s += c + String(repeating: " ", count: max(1, w - len))
    }
    return "  " + s.trimmingCharacters(in: .whitespaces)
}

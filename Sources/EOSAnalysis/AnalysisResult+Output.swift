import EOSPhases
import Foundation

extension AnalysisResult {
    /// JSON with snake_case keys in sorted order, pretty-printed (`analyze --json`). Non-finite
    /// numbers (NaN, ±Inf: undefined or unbounded values) are written as `null`, so that any JSON
    /// reader takes the text. Same result → same bytes. Read it back with `decode(json:)`.
    public func jsonData(includePerStep: Bool = true) throws -> Data {
        var copy = self
        if !includePerStep { copy.perStep = PerStepTable.empty }
        let e = Self.encoder()
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: Self.nonFiniteMark, negativeInfinity: Self.nonFiniteMark,
                                                                nan: Self.nonFiniteMark)
        let text = String(decoding: try e.encode(copy), as: UTF8.self)
        return Data(text.replacingOccurrences(of: "\"\(Self.nonFiniteMark)\"", with: "null").utf8)
    }

    /// Stands for a non-finite number between encoding and the `null` of `jsonData`.
    static let nonFiniteMark = "eostrace-non-finite-number-7f3a"

    /// Decodes `analyze --json` text: `null` numbers (this version) read as NaN, and so do the
    /// strings "NaN", "Infinity", "-Infinity" of older versions (and of `/analysis@summary`).
    public static func decode<T: Decodable>(_ type: T.Type = AnalysisResult.self, json data: Data) throws -> T {
        func fill(_ x: Any) -> Any {
            if x is NSNull { return "NaN" }
            if let a = x as? [Any] { return a.map(fill) }
            if let d = x as? [String: Any] { return d.mapValues(fill) }
            return x
        }
        let tree = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        return try decoder().decode(T.self, from: try JSONSerialization.data(withJSONObject: fill(tree), options: [.fragmentsAllowed]))
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

    /// Widest line of the human summary (columns); longer prose lines are wrapped.
    public static let summaryWidth = 100

    /// Human summary: run, phases and cycles, R′ error, anomalies, checks, story. No line is wider
    /// than `summaryWidth` columns; every term it prints is defined in docs/SUMMARY.md.
    public func summaryText(maxCycles: Int = 12) -> String {
        var s = ""
        /// Appends `x`, wrapped at spaces to `summaryWidth` columns (continuation lines indented
        /// four more than the first).
        func line(_ x: String = "") { s += wrapped(x, width: Self.summaryWidth) + "\n" }
        line("Run: \(run.rows) recorded steps (\(run.firstStep)…\(run.lastStep)), \(run.consecutivePairs) consecutive pairs, \(run.gaps) gaps; n=\(run.n)\(run.outputs.map { ", c=\($0) outputs" } ?? ""), k=\(run.k), η=\(g(run.learningRate)), 2/η=\(g(run.threshold))" + (run.modelKind.map { ", model \($0)" } ?? ""))
        if let c = run.outputs {
            line("Outputs: c=\(c); vectors are vec(D) over n·c = \(run.n * c) entries (sample-major), L = ‖D‖_F²/n, "
                 + "‖R‖²/n with n samples, ‖A‖² = ‖A‖_F², DᵀF = ⟨D, F⟩_F (docs/ANALYSIS.md §10)")
        }
        line("Gram M(t): \(gram.label)" + (gram.approximate ? "  [APPROXIMATE: results marked * depend on it]" : ""))
        if let note = gram.note { line("  (\(note))") }
        if let r = gram.replay {
            line("Replay: \(r.checkpoints) checkpoints; max relative drift of D \(g(r.maxRelativeDriftResidual))"
                 + (r.maxDriftStep.map { " at step \($0)" } ?? "")
                 + ", of θ at checkpoints \(g(r.maxRelativeDriftCheckpoint)) (tolerance \(g(r.tolerance)): \(r.withinTolerance ? "ok" : "EXCEEDED"))")
        }
        for l in mSourceLines() { line(l) }
        line("Terms: docs/SUMMARY.md")
        line()
        line("Phases (rule: \(options.phaseRule.rawValue)):  I \(phases.rows.phase1)  II \(phases.rows.phase2)  III \(phases.rows.phase3)  IV \(phases.rows.phase4) rows")
        let ex = phases.excursions
        let exText = ex.isDefault ? "every run above 2/η" : "runs merged across gaps < \(ex.mergeGap) steps, kept with ≥ \(ex.minSteps) steps above 2/η and peak > (1+\(g(ex.minMargin)))·2/η"
        line("Cycles: \(phases.cycleText) (\(phases.completeCycles) complete; excursions: \(exText))")
        if !phases.cycles.isEmpty {
            let w = [4, 9, 7, 8, 7, 5, 5, 5, 9, 10, 11, 10]
            line(columns(["#", "II start", "peak", "III end", "IV end", "II", "III", "IV", "Λ peak", "L(p)", "L rise III", "IV ended by"], w))
            for c in phases.cycles.prefix(maxCycles) {
                line(columns(["\(c.index)", "\(c.startStep)", "\(c.peakStep)", "\(c.endStep)", c.ivEndStep.map { "\($0)" } ?? "empty",
                              "\(c.stepsPhase2)", "\(c.stepsPhase3)", "\(c.stepsPhase4)", g(c.peakSharpness), g(c.lossAtPeak),
                              g(c.lossRisePhase3), ivEndText(c.ivEndReason)], w))
            }
            if phases.cycles.count > maxCycles { line("  … \(phases.cycles.count - maxCycles) more cycles (see --json)") }
        }
        line()
        let star = gram.approximate ? "*" : ""
        line("R′ tracking\(star) (M: \(rPrime.gramSource)): ‖R − R′‖ and, relative, ‖R − R′‖/‖R‖")
        let modes = [rPrime.fromStart, rPrime.primary]
        let mw = max(22, (modes.map(\.mode.count).max() ?? 0) + 2)
        let rw = [mw, 7, 10, 10, 10, 10, 10, 10]
        line(columns(["R′ restarts", "starts", "median", "p90", "max", "rel median", "rel p90", "rel max"], rw))
        for r in modes {
            line(columns([r.mode, "\(r.starts)", g(r.absError.all.median), g(r.absError.all.p90), g(r.absError.all.max),
                          g(r.relError.all.median), g(r.relError.all.p90), g(r.relError.all.max)], rw))
        }
        line()
        line("Anomaly points: \(anomalies.count) of \(anomalies.pairs) pairs (rate \(g(anomalies.rate))); \(anomalies.nearSignChange) within \(anomalies.window) steps of one of \(anomalies.signChanges) sign changes of Δ‖A‖² (chance level: \(g(anomalies.pairsNearSignChangeRate)) of all pairs are that close)")
        line()
        // Rates: hits/total per phase. Distributions: median, p90 and max over all pairs, then
        // the median within each phase.
        let rateWidths = [34, 13, 13, 13, 13, 13]
        line("Checks, rates (fraction of pairs or rows where the check holds; in brackets: how many):")
        line(columns(["check", "all", "I", "II", "III", "IV"], rateWidths))
        func rateRow(_ name: String, _ r: PerPhase<Rate>) {
            line(columns([name] + [r.all, r.phase1, r.phase2, r.phase3, r.phase4].map { $0.total == 0 ? "-" : "\(g3($0.rate)) (\($0.total))" },
                         rateWidths))
        }
        rateRow("Assumption 3.1: co-movement", checks.coMovement)
        if let a = checks.assumption37 { rateRow("Assumption 3.7: λ2 < 1/η", a) }
        if let p = checks.proposition31 { rateRow("Proposition 3.1: DᵀF > 0", p) }
        if let p = checks.proposition32Bound { rateRow("Proposition 3.2: bound", p) }
        if let p = checks.proposition32Direction { rateRow("Proposition 3.2: Δ‖A‖² < 0", p) }
        rateRow("‖R‖² decreases", decomposition.rNormSqDecreases)
        rateRow("L decreases", decomposition.lossDecreases)
        line()
        let distWidths = [34, 9, 9, 9, 9, 9, 9, 9]
        line("Checks, distributions (all pairs: median, p90, max; phases I–IV: the median):")
        line(columns(["check", "median", "p90", "max", "I", "II", "III", "IV"], distWidths))
        func distRow(_ name: String, _ d: PerPhase<Distribution>) {
            let all = d.all.count == 0 ? ["-", "-", "-"] : [g3(d.all.median), g3(d.all.p90), g3(d.all.max)]
            line(columns([name] + all + [d.phase1, d.phase2, d.phase3, d.phase4].map { $0.count == 0 ? "-" : g3($0.median) }, distWidths))
        }
        distRow("Assumption 3.2: error of D\(star)", checks.firstOrderResidual)
        distRow("Assumption 3.2: error of ‖A‖²", checks.firstOrderOutputNorm)
        if let b = checks.outputBias, b.error.all.count > 0 { distRow("  the same with output bias b", b.error) }
        distRow("Assumption 3.5(iii): ε2", checks.eps2)
        if let o = checks.outputLayerRatio { distRow("λmax(M_A)/Λ", o) }
        distRow("Lemma 3.2: |c1(t+1)/c1(t)|", checks.lemma32.measuredRatio)
        line()
        line("Lemma 3.2 (phases II–III): predicted ratio |1−ηΛ| median \(g(checks.lemma32.predictedRatio.median)); log(measured/predicted) median \(g(checks.lemma32.logRatioError.median)); |c1| grows on \(checks.lemma32.growth.hits) of \(checks.lemma32.growth.total) pairs (fraction \(g(checks.lemma32.growth.rate)); \(checks.lemma32.excludedBelowFloor) pairs with |c1| at its accuracy floor left out)")
        line("Assumption 3.6 at phase-II starts: holds (c > 1) at \(checks.assumption36Holds.hits) of \(checks.assumption36Holds.total) with ε2 = max over the phase-II pairs; at \(checks.assumption36HoldsAtStart.hits) of \(checks.assumption36HoldsAtStart.total) with ε2 at the start step")
        if let b = checks.outputBias {
            line("Assumption 3.2 for ‖A‖² with the output bias b (\(b.note)): median error \(g(b.error.all.median)) against the paper's \(g(checks.firstOrderOutputNorm.all.median)); first pair \(g(b.firstPairError)) against \(g(b.firstPairPaperError)); median b \(g(b.medianBias))")
        }
        let rg = checks.regimes
        line("Assumption 3.1 by regime: hover (\(rg.hoverRuns) runs of ≥ \(options.hoverMinSteps) steps with |ηΛ/2−1| ≤ \(g(options.hoverMargin)), \(rg.hoverRows) rows) \(g(rg.coMovementHover.rate)) (\(rg.coMovementHover.total)); catapult (phases II–IV outside hovers, \(rg.catapultRows) rows) \(g(rg.coMovementCatapult.rate)) (\(rg.coMovementCatapult.total)); other \(g(rg.coMovementOther.rate)) (\(rg.coMovementOther.total))")
        if !checks.phase2Lengths.isEmpty {
            line()
            line("Phase II length from Lemma 3.2's growth law (τ: first τ with |c1(a)|·Π|1−ηΛ(t)| ≥ ‖D(a)‖; measured: steps a→peak):")
            let w = [4, 9, 11, 11, 10, 9, 13, 9, 6]
            line(columns(["#", "II start", "|c1|/‖D‖", "floor", "predicted", "measured", "growth meas.", "|1−ηΛ|", "pairs"], w))
            for item in checks.phase2Lengths.prefix(maxCycles) {
                line(columns(["\(item.cycle)", "\(item.startStep)", g(item.c1Share) + (item.startBelowFloor ? "*" : ""), g(item.floorShare),
                              item.predictedSteps.map { "\($0)" } ?? "never", "\(item.measuredSteps)",
                              g(item.measuredGrowth), g(item.predictedGrowth), "\(item.pairsAboveFloor)"], w))
            }
            if checks.phase2Lengths.count > maxCycles { line("  … \(checks.phase2Lengths.count - maxCycles) more (see --json)") }
            if checks.phase2Lengths.contains(where: \.startBelowFloor) { line("  * |c1(a)| at or below the eigenvector's accuracy floor: the prediction starts from noise") }
        }
        if let e = checks.exactUpdate {
            line("Two-layer linear exact update: ‖D(t+1)−(I−ηM*)D(t)‖/‖D(t+1)‖ median \(g(e.relativeToResidual.median)), max \(g(e.relativeToResidual.max))")
        }
        line()
        let scale = StoryVerdict.cutoffs.map { "\($0.verdict) ≥ \(g($0.rate))" }.joined(separator: ", ")
        line("How much of the paper's story this run supports (verdict from the rate: \(scale), below: \(StoryVerdict.notSupported); n/a: no rate):")
        for item in story { storyLines(item).forEach { line($0) } }
        return s
    }

    /// One story item: `[verdict] claim`, then what was measured: the measure and its value, and
    /// the rate the verdict is read from when it is not the value itself.
    func storyLines(_ item: StoryItem) -> [String] {
        let (name, formula) = splitMeasure(item.measure)
        // "9 cycles" already says its value; other measures get " = value".
        var detail = name.hasPrefix(g(item.value) + " ") ? name : "\(name) = \(g(item.value))"
        if let rate = item.rate, !(rate.isNaN && item.value.isNaN) {
            if let formula {
                detail += "; rate = \(formula) = \(g(rate))"
            } else if !(rate == item.value || (rate.isNaN && item.value.isNaN)) {
                detail += "; rate = \(g(rate))"
            }
        }
        return ["  [\(item.verdict)] \(item.claim)", "      \(detail) (on \(item.basis))"]
    }
}

/// A story measure without its "rate: …" part, and that part: "median error (rate: 1 − median)"
/// → ("median error", "1 − median"); "fraction (chance 0.1; rate: lift above chance)" →
/// ("fraction (chance 0.1)", "lift above chance").
public func splitMeasure(_ measure: String) -> (name: String, formula: String?) {
    for pattern in [#"\s*\(rate: ([^;)]*)\)"#, #";\s*rate: ([^;)]*)"#, #"(?<=\()rate: ([^;)]*);\s*"#] {
        guard let re = try? NSRegularExpression(pattern: pattern),
              let m = re.firstMatch(in: measure, range: NSRange(measure.startIndex..., in: measure)),
              let whole = Range(m.range, in: measure), let f = Range(m.range(at: 1), in: measure) else { continue }
        var name = measure
        let formula = String(measure[f]).trimmingCharacters(in: .whitespaces)
        name.replaceSubrange(whole, with: "")
        return (name.trimmingCharacters(in: .whitespaces), formula)
    }
    return (measure, nil)
}

/// How phase IV ended, in the summary's words (docs/SUMMARY.md).
func ivEndText(_ r: Cycle.IVEnd) -> String {
    switch r {
    case .lossRecovered: return "L ≤ L(p)"
    case .dtfNegative: return "DᵀF < 0"
    case .nextRun: return "next run"
    case .endOfRecording: return "end"
    }
}

/// `text` broken at spaces into lines of at most `width` columns (a word longer than the line
/// stays whole); continuation lines get the first line's indent plus four spaces.
func wrapped(_ text: String, width: Int) -> String {
    guard text.count > width else { return text }
    let indent = String(text.prefix { $0 == " " })
    let next = indent + "    "
    var lines: [String] = []
    var current = ""
    for word in text.dropFirst(indent.count).split(separator: " ", omittingEmptySubsequences: false) {
        let prefix = lines.isEmpty ? indent : next
        if current.isEmpty {
            current = prefix + word
        } else if current.count + 1 + word.count <= width {
            current += " " + word
        } else {
            lines.append(current)
            current = next + word
        }
    }
    lines.append(current)
    return lines.joined(separator: "\n")
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

/// Three significant digits, for the checks tables.
func g3(_ x: Double) -> String {
    if x.isNaN { return "n/a" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    return String(format: "%.3g", x)
}

/// Table row: two spaces, then each cell left-aligned in its width (at least one space between).
private func columns(_ cells: [String], _ widths: [Int]) -> String {
    var s = ""
    for (i, c) in cells.enumerated() {
        let w = i < widths.count ? widths[i] : 10
        s += c + String(repeating: " ", count: max(1, w - c.count))
    }
    while s.last == " " { s.removeLast() }
    return "  " + s
}

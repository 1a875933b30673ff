extension AnalysisResult {
    /// The summary lines that say which M each M-dependent result used, the replay verification
    /// (drift per checkpoint interval) and the convention check's warning. Empty when there is
    /// nothing to say beyond the "Gram M(t)" line.
    public func mSourceLines(maxIntervals: Int = 8) -> [String] {
        var out: [String] = []
        if let results = gram.results {
            let names = ["first_order_residual": "Assumption 3.2, first-order error of D", "r_prime": "R′ (\(rPrime.primary.mode))",
                         "r_prime_from_start": "R′ from_start", "exact_update": "two-layer linear M* update"]
            for r in results {
                out.append("  M for \(names[r.result] ?? r.result): \(r.label)" + (r.exact ? " — exact" : "")
                           + (r.note.map { " [products not used: \($0)]" } ?? ""))
            }
        }
        if let v = gram.verification {
            var line = "Replay verification: \(v.rowsBeyondTolerance) rows beyond the \(g(v.tolerance)) drift tolerance"
                + (v.firstStepBeyondTolerance.map { " (first at step \($0); never labelled exact)" } ?? "")
            if let d = v.maxGramResidualDifference {
                line += "; replayed vs recorded products: M·D \(g(d))"
                    + (v.maxRPrimeDifference.map { ", r_prime \(g($0))" } ?? "")
                    + (v.maxRPrimeFromStartDifference.map { ", r_prime_from_start \(g($0))" } ?? "") + " (max relative)"
            }
            out.append(line)
            for iv in v.intervals.prefix(maxIntervals) {
                out.append("  steps \(iv.fromStep)…\(iv.toStep): max drift \(g(iv.maxDrift))"
                           + (iv.rowsBeyondTolerance > 0 ? ", \(iv.rowsBeyondTolerance) of \(iv.rows) rows beyond (from step \(iv.firstStepBeyondTolerance.map { "\($0)" } ?? "?"))" : ", within")
                           + (iv.maxGramResidualDifference.map { "; M·D vs recorded \(g($0))" } ?? ""))
            }
            if v.intervals.count > maxIntervals { out.append("  … \(v.intervals.count - maxIntervals) more intervals (see --json)") }
        }
        if let c = solverCost {
            var parts: [String] = []
            if let i = c.iterations { parts.append("eigensolver iterations median \(g(i.median)), max \(g(i.max))") }
            if let m = c.matvecs { parts.append("matvecs median \(g(m.median)) (total \(g(c.matvecsTotal ?? .nan)))") }
            if let s = c.stepSeconds { parts.append("step time median \(g(s.median)) s (total \(g(c.secondsTotal ?? .nan)) s)") }
            out.append("Recorded cost per step: " + parts.joined(separator: "; "))
        }
        if let w = conventions?.warning { out.append("WARNING (conventions): \(w)") }
        return out
    }
}

import Foundation

extension AnalysisResult {
    /// `optionsJSON` plus `"m_sources": {result: source}` (which M each M-dependent result used)
    /// and `"replay_verified"`, so that `/analysis@options` records them.
    func withMSources(_ json: String) throws -> String {
        guard let results = gram.results,
              var obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return json }
        var m: [String: String] = [:]
        for r in results { m[r.result] = r.source }
        obj["m_sources"] = m
        obj["replay_verified"] = gram.verification != nil
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

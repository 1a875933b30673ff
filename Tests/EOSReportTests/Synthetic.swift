import Foundation
@testable import EOSReport
// SplitMix64 (with `uniform()` and `normal()`) for the test data, visible in every file of this target.
@_exported import EOSTestSupport
@_exported import struct EOSNumerics.SplitMix64

/// phase rule, written independently of the library (which only draws phases).
func referencePhases(sharpness: [Double], loss: [Double], eta: Double) -> [Int] {
    let n = sharpness.count
    var phase = [Int](repeating: 1, count: n)
    var i = 0
    while i < n {
        guard sharpness[i] > 2 / eta else { i += 1; continue }
        var b = i
        while b + 1 < n && sharpness[b + 1] > 2 / eta { b += 1 }
        var p = i
        for j in i...b where sharpness[j] > sharpness[p] { p = j }
        for j in i...p { phase[j] = 2 }
        if p < b { for j in (p + 1)...b { phase[j] = 3 } }
        let lp = loss[p]
        var j = b + 1
        while j < n && loss[j] > lp && sharpness[j] <= 2 / eta { phase[j] = 4; j += 1 }
        i = b + 1
    }
    return phase
}

/// A synthetic EOS-like run: progressive sharpening up to 2/η, then oscillation around it with
/// loss spikes, ‖A‖² following Λ with noise (so there are anomaly points), c1 growing while
/// Λ > 2/η. Not GD; only for drawing.
func syntheticInput(count: Int = 3000, eta: Double = 0.02, seed: UInt64 = 7) -> ReportInput {
    var rng = SplitMix64(seed: seed)
    let thr = 2 / eta
    var steps: [Int] = [], loss: [Double] = [], sharp: [Double] = [], a2: [Double] = []
    var l2: [Double] = [], la: [Double] = [], r: [Double] = [], c1: [Double] = []
    var err: [Double] = [], rel: [Double] = []
    var c = 1e-3
    for t in 0..<count {
        let tt = Double(t)
        let ps = thr * (0.3 + 0.75 * (1 - exp(-tt / 500)))
        let osc = tt > 800 ? 0.06 * thr * sin(2 * .pi * tt / 180) : 0
        let s = min(ps, thr * 1.02) + osc
        steps.append(t * 2)
        sharp.append(s)
        a2.append(s / 40 + 0.002 * rng.normal())
        l2.append(0.2 * thr * (1 - exp(-tt / 700)) + 0.5)
        la.append(0.01 * s)
        c = s > thr ? min(c * 1.08, 5) : max(c * 0.93, 1e-6)
        c1.append(t % 2 == 0 ? c : -c)
        let rr = 2 * exp(-tt / 900) + 1e-3
        r.append(rr)
        loss.append(rr + c * c / 50)
        err.append(1e-8 * (1 + Double(t % 180)))
        rel.append(1e-8 * (1 + Double(t % 180)) / rr)
    }
    var anomaly = [Bool](repeating: false, count: count)
    for t in 0..<(count - 1) {
        let ds = sharp[t + 1] - sharp[t], da = a2[t + 1] - a2[t]
        anomaly[t] = ds != 0 && da != 0 && (ds > 0) != (da > 0)
    }
    let phase = referencePhases(sharpness: sharp, loss: loss, eta: eta)
    return ReportInput(
        runName: "synthetic <run> & \"quotes\".h5", steps: steps, eta: eta, loss: loss, sharpness: sharp,
        outputNormSq: a2, lambda1: sharp, lambda2: l2, outputLayerSharpness: la, rNormSqPerN: r,
        c1: c1, rPrimeError: err, rPrimeRelativeError: rel, rPrimeMethod: "synthetic",
        phase: phase, anomaly: anomaly,
        checks: [CheckRow(name: "3.7 λ2 < 1/η", value: "100 %", detail: "all steps"),
                 CheckRow(name: "anomaly <rate>", value: "12 %", detail: "a & b")],
        metadata: [("format", "eostrace-trajectory 1.0"), ("model", "{\"kind\":\"mlp\"}")])
}

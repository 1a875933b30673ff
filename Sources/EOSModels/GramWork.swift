import EOSNumerics
import Foundation

/// The Gram M and λ_max(M_A) of one evaluation as independent pieces — one syrk per H_l H_lᵀ
/// (l ≥ 1) and per Δ_l Δ_lᵀ (l < L−1), and λ_max(M_A) — that any thread may run (`helpOne`),
/// then summed in a fixed order (`gram`). Every piece is one single-threaded BLAS call on fixed
/// inputs, so M is bit-identical whichever threads ran which pieces: the recorder's main thread
/// takes pieces while it would otherwise wait for the recording thread.
public final class GramWork: @unchecked Sendable {
    private enum Piece { case hh(Int), dd(Int), outputLayer }
    private let evaluator: ModelEvaluator
    private let fw: ModelEvaluator.Forward
    private let delta: [Matrix]
    private let pieces: [Piece]
    private var hh: [Matrix?], dd: [Matrix?]
    private var olSharpness: Result<Double, any Error>?
    private var next = 0, finished = 0
    private var includeOutputLayer: Bool
    private let cond = NSCondition()

    init(evaluator: ModelEvaluator, fw: ModelEvaluator.Forward, delta: [Matrix], outputLayerSharpness: Bool = false) {
        self.evaluator = evaluator; self.fw = fw; self.delta = delta
        let L = evaluator.network.layerCount
        var p: [Piece] = []
        for l in 0..<(L - 1) { p.append(.dd(l)) }
        for l in 1..<L { p.append(.hh(l)) }
        if outputLayerSharpness { p.append(.outputLayer) }
        pieces = p
        includeOutputLayer = outputLayerSharpness
        hh = Array(repeating: nil, count: L); dd = Array(repeating: nil, count: L)
    }

    /// Runs one piece not yet taken; false when none is left.
    @discardableResult
    public func helpOne() -> Bool {
        cond.lock()
        guard next < pieces.count else { cond.unlock(); return false }
        let piece = pieces[next]
        next += 1
        cond.unlock()
        switch piece {
        case .hh(let l):
            var b = evaluator.takeBuffer()
            BLAS.syrk(fw.h[l], into: &b, fullSymmetric: false)
            cond.lock(); hh[l] = b
        case .dd(let l):
            var b = evaluator.takeBuffer()
            BLAS.syrk(delta[l], into: &b, fullSymmetric: false)
            cond.lock(); dd[l] = b
        case .outputLayer:
            let r = Result { try ModelEvaluator.DeferredGram(evaluator: evaluator, fw: fw, delta: delta).outputLayerSharpness() }
            cond.lock(); olSharpness = r
        }
        finished += 1
        cond.broadcast()
        cond.unlock()
        return true
    }

    private func runAll() {
        while helpOne() {}
        cond.lock()
        while finished < pieces.count { cond.wait() }
        cond.unlock()
    }

    /// M (n × n): runs the pieces left, waits for those other threads took, sums them. Call once.
    public func gram() -> Matrix {
        runAll()
        let m = evaluator.combineGram(hh: hh, dd: dd)
        for b in hh + dd { if let b { evaluator.returnBuffer(b) } }
        hh = hh.map { _ in nil }; dd = dd.map { _ in nil }
        return m
    }

    /// λ_max(M_A) (a piece when this work was made with `outputLayerSharpness: true`).
    public func outputLayerSharpness() throws -> Double {
        runAll()
        if let r = olSharpness { return try r.get() }
        return try ModelEvaluator.DeferredGram(evaluator: evaluator, fw: fw, delta: delta).outputLayerSharpness()
    }
}

extension ModelEvaluator.DeferredGram {
    /// The Gram work of this evaluation as shareable pieces (see `GramWork`).
    public func work(outputLayerSharpness: Bool = true) -> GramWork {
        GramWork(evaluator: evaluator, fw: fw, delta: delta, outputLayerSharpness: outputLayerSharpness)
    }
}

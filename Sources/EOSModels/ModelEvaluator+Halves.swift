import EOSNumerics
import Foundation

extension ModelEvaluator {
    /// Runs the large products of the GD chain in two halves on two threads: the forward product
    /// by rows of H, the weight gradient by columns of H, the activations by halves. Each half is
    /// the same single-threaded OpenBLAS call on a sub-block, which gives the same bits as the
    /// whole call only if OpenBLAS picks the same kernel path for both sizes; that is checked
    /// here, on random data of this evaluator's shapes, when the option is turned on, and layers
    /// that fail the check stay whole. So results are bit-identical with the option on or off
    /// (and to recordings made without it). Used by `analyze`'s replay, whose second thread has
    /// spare time; the recorder's two threads are busy anyway.
    public var twoThreadChain: Bool {
        get { !splitLayers.isEmpty }
        set {
            splitLayers = []
            guard newValue else { return }
            for l in 0..<network.layerCount where Double(n) * Double(network.sizes[l]) * Double(network.sizes[l + 1]) >= 4e6 {
                if Self.halvesAreExact(n: n, input: network.sizes[l], output: network.sizes[l + 1], beta: network.bias ? 1 : 0) {
                    splitLayers.insert(l)
                }
            }
        }
    }

    static func halvesAreExact(n: Int, input: Int, output: Int, beta: Double) -> Bool {
        var rng = SeededRNG(seed: UInt64(n * 31 + input * 7 + output))
        let h = Matrix(rows: n, cols: input, data: rng.normals(n * input))
        let w = Matrix(rows: output, cols: input, data: rng.normals(output * input))
        let zInit = rng.normals(n * output)
        var whole = Matrix(rows: n, cols: output, data: zInit), halves = whole
        BLAS.gemm(h, w, transB: .transpose, beta: beta, into: &whole)
        forwardProductInHalves(h, w, beta: beta, into: &halves)
        guard whole.data == halves.data else { return false }
        let g = Matrix(rows: n, cols: output, data: rng.normals(n * output))
        return BLAS.gemm(g, h, transA: .transpose).data == gradientProductInHalves(g, h).data
    }

    /// Z ← H·Wᵀ + β·Z, rows of H (and Z) in two halves on two threads.
    static func forwardProductInHalves(_ h: Matrix, _ w: Matrix, beta: Double, into z: inout Matrix) {
        let n = h.rows, k = h.cols, o = w.rows
        inHalves(h, w, &z, splitting: n) { lo, count, ph, pw, pz in
            BLAS.gemm(transA: .none, transB: .transpose, m: count, n: o, k: k, alpha: 1, a: ph + lo * k, lda: k,
                      b: pw, ldb: k, beta: beta, c: pz + lo * o, ldc: o)
        }
    }

    /// Gᵀ·H (out × in), columns of H (and of the result) in two halves on two threads.
    static func gradientProductInHalves(_ g: Matrix, _ h: Matrix) -> Matrix {
        let n = g.rows, o = g.cols, k = h.cols
        var out = Matrix(rows: o, cols: k)
        inHalves(g, h, &out, splitting: k) { lo, count, pg, ph, po in
            BLAS.gemm(transA: .transpose, transB: .none, m: o, n: count, k: n, alpha: 1, a: pg, lda: o,
                      b: ph + lo, ldb: k, beta: 0, c: po + lo, ldc: k)
        }
        return out
    }

    /// Runs `half(lo, count, a, b, c)` for [0, m/2) and [m/2, m) concurrently, with raw pointers
    /// to the storage of `a`, `b` and `c` (each half writes its own part of `c`).
    private static func inHalves(_ a: Matrix, _ b: Matrix, _ c: inout Matrix, splitting m: Int,
                                 _ half: @escaping @Sendable (Int, Int, UnsafePointer<Double>, UnsafePointer<Double>,
                                                              UnsafeMutablePointer<Double>) -> Void) {
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                c.data.withUnsafeMutableBufferPointer { pc in
                    let (pa, pb, pc) = (UncheckedPointer(pa.baseAddress!), UncheckedPointer(pb.baseAddress!),
                                        UncheckedMutablePointer(pc.baseAddress!))
                    DispatchQueue.concurrentPerform(iterations: 2) { part in
                        let lo = part == 0 ? 0 : m / 2
                        half(lo, part == 0 ? m / 2 : m - m / 2, pa.p, pb.p, pc.p)
                    }
                }
            }
        }
    }
}

/// A pointer handed to the two halves of a split product (each half touches its own rows or
/// columns of the output).
struct UncheckedPointer: @unchecked Sendable { let p: UnsafePointer<Double>; init(_ p: UnsafePointer<Double>) { self.p = p } }
struct UncheckedMutablePointer: @unchecked Sendable {
    let p: UnsafeMutablePointer<Double>
    init(_ p: UnsafeMutablePointer<Double>) { self.p = p }
}

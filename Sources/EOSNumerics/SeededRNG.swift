/// A seeded pseudo-random generator (xoshiro256**, state expanded from the seed by SplitMix64).
/// Deterministic across platforms; use it for every test, init and data selection in eostrace.
///
///     var rng = SeededRNG(seed: 42)
///     let u = rng.uniform()            // [0, 1)
///     let z = rng.normal()             // N(0, 1)
public struct SeededRNG: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)
    private var spareNormal: Double?

    public init(seed: UInt64) {
        var sm = SplitMix64(seed: seed)
        s = (sm.next(), sm.next(), sm.next(), sm.next())
        spareNormal = nil
    }

    /// The whole state as six words (xoshiro's four, 1/0 for a cached second normal, its bit
    /// pattern), for storing a generator and continuing it exactly (`init(stateWords:)`).
    public var stateWords: [UInt64] {
        [s.0, s.1, s.2, s.3, spareNormal == nil ? 0 : 1, spareNormal?.bitPattern ?? 0]
    }

    /// A generator continuing from `stateWords`; nil unless six words with a nonzero xoshiro
    /// state and a flag of 0 or 1.
    public init?(stateWords w: [UInt64]) {
        guard w.count == 6, w[0] | w[1] | w[2] | w[3] != 0, w[4] <= 1 else { return nil }
        s = (w[0], w[1], w[2], w[3])
        spareNormal = w[4] == 1 ? Double(bitPattern: w[5]) : nil
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = SeededRNG.rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = SeededRNG.rotl(s.3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [a, b).
    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * uniform() }

    /// Standard normal (Box–Muller, polar-free form; caches the second value).
    public mutating func normal() -> Double {
        if let z = spareNormal { spareNormal = nil; return z }
        var u1 = uniform()
        while u1 <= 0 { u1 = uniform() }
        let u2 = uniform()
        let r = (-2 * _log(u1)).squareRoot()
        let a = 2 * Double.pi * u2
        spareNormal = r * _sin(a)
        return r * _cos(a)
    }

    /// `count` standard normals scaled by `std`.
    public mutating func normals(_ count: Int, std: Double = 1) -> [Double] { (0..<count).map { _ in std * normal() } }

    /// `count` uniforms in [a, b).
    public mutating func uniforms(_ count: Int, _ a: Double, _ b: Double) -> [Double] { (0..<count).map { _ in uniform(a, b) } }

    /// A uniformly random integer in 0..<upper (unbiased).
    public mutating func int(below upper: Int) -> Int { Int.random(in: 0..<upper, using: &self) }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator used to seed `SeededRNG`, and the
/// generator of test data (EOSTestSupport). The only SplitMix64 of the package.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits (`next() >> 11` scaled by 2⁻⁵³), like `SeededRNG.uniform()`.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

import Foundation
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Foundation.sin(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }

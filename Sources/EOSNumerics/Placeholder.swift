import CLapack
public func blasDot(_ a: [Double], _ b: [Double]) -> Double { cblas_ddot(Int32(a.count), a, 1, b, 1) }

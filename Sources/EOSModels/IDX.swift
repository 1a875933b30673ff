import CZlib
import Foundation

/// An array read from an IDX file (the MNIST / Fashion-MNIST format), converted to Double.
public struct IDXArray: Sendable {
    public var shape: [Int]
    /// Row-major values.
    public var values: [Double]
}

/// Reader for IDX files, plain or gzip-compressed (zlib `gzread` handles both).
public enum IDX {
    /// Reads the whole file, decompressing gzip transparently.
    static func readBytes(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError.cannotOpen(file: path, reason: "no such file") }
        guard let f = gzopen(path, "rb") else { throw DataError.cannotOpen(file: path, reason: String(cString: strerror(errno))) }
        defer { gzclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = chunk.withUnsafeMutableBytes { gzread(f, $0.baseAddress, UInt32($0.count)) }
            if got < 0 {
                var code: Int32 = 0
                let msg = gzerror(f, &code).map { String(cString: $0) } ?? "read error"
                throw DataError.malformed(file: path, problem: "gzip: \(msg)")
            }
            if got == 0 { break }
            out.append(contentsOf: chunk[0..<Int(got)])
        }
        var code: Int32 = 0
        let msg = gzerror(f, &code).map { String(cString: $0) } ?? ""
        if code != Z_OK && code != Z_STREAM_END { throw DataError.malformed(file: path, problem: "gzip: \(msg)") }
        return out
    }

    /// Parses an IDX file (magic 0x0000 TT NN, NN big-endian UInt32 dimensions, then big-endian data).
    /// Supported element types: 0x08 ubyte, 0x09 sbyte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
    /// - Throws: `DataError` naming the file for bad magic, sizes, truncation or trailing bytes.
    public static func read(_ path: String) throws -> IDXArray {
        let bytes = try readBytes(path)
        return try parse(bytes, file: path)
    }

    public static func parse(_ b: [UInt8], file: String) throws -> IDXArray {
        guard b.count >= 4 else { throw DataError.malformed(file: file, problem: "\(b.count) bytes, shorter than the 4-byte IDX magic") }
        guard b[0] == 0 && b[1] == 0 else { throw DataError.malformed(file: file, problem: "bad IDX magic (first two bytes must be 0)") }
        let type = b[2], ndim = Int(b[3])
        let size: Int
        switch type {
        case 0x08, 0x09: size = 1
        case 0x0B: size = 2
        case 0x0C, 0x0D: size = 4
        case 0x0E: size = 8
        default: throw DataError.malformed(file: file, problem: String(format: "unknown IDX element type 0x%02X", type))
        }
        guard ndim >= 1 else { throw DataError.malformed(file: file, problem: "IDX with 0 dimensions") }
        guard b.count >= 4 + 4 * ndim else { throw DataError.malformed(file: file, problem: "truncated IDX header") }
        var shape: [Int] = []
        var count = 1
        for k in 0..<ndim {
            let o = 4 + 4 * k
            let v = Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3])
            shape.append(v)
            let (c, overflow) = count.multipliedReportingOverflow(by: v)
            guard !overflow && c < (1 << 40) else { throw DataError.malformed(file: file, problem: "IDX shape \(shape) too large") }
            count = c
        }
        let header = 4 + 4 * ndim
        let expected = header + count * size
        guard b.count >= expected else {
            throw DataError.malformed(file: file, problem: "truncated: shape \(shape) needs \(expected) bytes, file has \(b.count)")
        }
        guard b.count == expected else {
            throw DataError.malformed(file: file, problem: "\(b.count - expected) trailing bytes after shape \(shape)")
        }
        var values = [Double](repeating: 0, count: count)
        b.withUnsafeBufferPointer { p in
            let base = header
            for i in 0..<count {
                let o = base + i * size
                switch type {
                case 0x08: values[i] = Double(p[o])
                case 0x09: values[i] = Double(Int8(bitPattern: p[o]))
                case 0x0B: values[i] = Double(Int16(bitPattern: UInt16(p[o]) << 8 | UInt16(p[o + 1])))
                case 0x0C:
                    values[i] = Double(Int32(bitPattern: UInt32(p[o]) << 24 | UInt32(p[o + 1]) << 16 | UInt32(p[o + 2]) << 8 | UInt32(p[o + 3])))
                case 0x0D:
                    values[i] = Double(Float(bitPattern: UInt32(p[o]) << 24 | UInt32(p[o + 1]) << 16 | UInt32(p[o + 2]) << 8 | UInt32(p[o + 3])))
                default:
                    var u: UInt64 = 0
                    for k in 0..<8 { u = u << 8 | UInt64(p[o + k]) }
                    values[i] = Double(bitPattern: u)
                }
            }
        }
        return IDXArray(shape: shape, values: values)
    }
}

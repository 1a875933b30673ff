import Foundation

/// An array read from a NumPy `.npy` file, converted to Double, in C (row-major) order.
public struct NPYArray: Sendable {
    public var shape: [Int]
    public var values: [Double]
}

/// Reader for NumPy `.npy` files (format versions 1.0–3.0): little-endian float64, float32,
/// int64, int32, int16, int8, uint8 (and big-endian variants refused clearly); C order, or
/// Fortran order for 1-D and 2-D arrays (transposed on read). Object arrays are refused.
public enum NPY {
    public static func read(_ path: String) throws -> NPYArray {
        try requireRegularFile(path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError.cannotOpen(file: path, reason: FileManager.default.fileExists(atPath: path) ? "unreadable" : "no such file")
        }
        return try parse([UInt8](data), file: path)
    }

    public static func parse(_ b: [UInt8], file: String) throws -> NPYArray {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard b.count >= 10, Array(b[0..<6]) == magic else { throw DataError.malformed(file: file, problem: "not a .npy file (bad magic)") }
        let major = b[6]
        let headerLen: Int, start: Int
        switch major {
        case 1: headerLen = Int(b[8]) | Int(b[9]) << 8; start = 10
        case 2, 3:
            guard b.count >= 12 else { throw DataError.malformed(file: file, problem: "truncated header") }
            headerLen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        default: throw DataError.unsupported(file: file, problem: ".npy format version \(major)")
        }
        guard b.count >= start + headerLen else { throw DataError.malformed(file: file, problem: "truncated header") }
        guard let header = String(bytes: b[start..<(start + headerLen)], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw DataError.malformed(file: file, problem: "header is not text")
        }
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrRest = field("descr"), descrRest.first == "'" || descrRest.first == "\"" else {
            throw DataError.malformed(file: file, problem: "header has no string 'descr' (structured dtypes are not supported)")
        }
        let q = descrRest.first!
        let descr = String(descrRest.dropFirst().prefix { $0 != q })
        guard let fo = field("fortran_order") else { throw DataError.malformed(file: file, problem: "header has no 'fortran_order'") }
        let fortran = fo.hasPrefix("True")
        guard let shapeRest = field("shape"), shapeRest.first == "(", let close = shapeRest.firstIndex(of: ")") else {
            throw DataError.malformed(file: file, problem: "header has no 'shape' tuple")
        }
        let inner = shapeRest[shapeRest.index(after: shapeRest.startIndex)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            guard let v = Int(t), v >= 0 else { throw DataError.malformed(file: file, problem: "bad shape entry '\(t)'") }
            shape.append(v)
        }
        // Overflow-checked: a forged header such as (2**32, 2**32) must not trap.
        var count = 1
        for v in shape {
            let (p, o) = count.multipliedReportingOverflow(by: v)
            guard !o else { throw DataError.malformed(file: file, problem: "shape \(shape) has more elements than fit in 64 bits") }
            count = p
        }
        let size: Int
        switch descr {
        case "<f8", "<i8", "<u8": size = 8
        case "<f4", "<i4", "<u4": size = 4
        case "<i2", "<u2": size = 2
        case "|i1", "|u1", "<i1", "<u1", "|b1": size = 1
        default:
            if descr.hasPrefix(">") { throw DataError.unsupported(file: file, problem: "big-endian dtype '\(descr)'") }
            throw DataError.unsupported(file: file, problem: "dtype '\(descr)' (need float64/float32/int/uint)")
        }
        let body = start + headerLen
        let (needed, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, b.count - body >= needed else {
            let need = overflow ? "more than 2^63" : "\(needed)"
            throw DataError.malformed(file: file, problem: "truncated data: shape \(shape) of '\(descr)' needs \(need) bytes, file has \(b.count - body)")
        }
        if fortran && shape.count > 2 {
            throw DataError.unsupported(file: file, problem: "Fortran-ordered array with \(shape.count) dimensions (save with np.ascontiguousarray)")
        }
        var values = [Double](repeating: 0, count: count)
        b.withUnsafeBufferPointer { p in
            for i in 0..<count {
                let o = body + i * size
                var u: UInt64 = 0
                for k in stride(from: size - 1, through: 0, by: -1) { u = u << 8 | UInt64(p[o + k]) }
                switch descr {
                case "<f8": values[i] = Double(bitPattern: u)
                case "<f4": values[i] = Double(Float(bitPattern: UInt32(u)))
                case "<i8": values[i] = Double(Int64(bitPattern: u))
                case "<u8": values[i] = Double(u)
                case "<i4": values[i] = Double(Int32(bitPattern: UInt32(u)))
                case "<u4": values[i] = Double(UInt32(u))
                case "<i2": values[i] = Double(Int16(bitPattern: UInt16(u)))
                case "<u2": values[i] = Double(UInt16(u))
                case "|i1", "<i1": values[i] = Double(Int8(bitPattern: UInt8(u)))
                default: values[i] = Double(u)
                }
            }
        }
        if fortran && shape.count == 2 {
            let (r, c) = (shape[0], shape[1])
            var t = [Double](repeating: 0, count: count)
            for i in 0..<r { for j in 0..<c { t[i * c + j] = values[j * r + i] } }
            values = t
        }
        return NPYArray(shape: shape, values: values)
    }

    /// Loads X (2-D, n × d) and Y (1-D n, or n × 1) from two .npy files as a data set.
    /// With `multiOutput`, Y may also be [n, c] (c targets per sample, e.g. one-hot classes).
    public static func loadDataset(x xPath: String, y yPath: String, multiOutput: Bool = false) throws -> Dataset {
        let x = try read(xPath), y = try read(yPath)
        return try HDF5Data.makeDataset(xShape: x.shape, x: x.values, yShape: y.shape, y: y.values, xName: xPath, yName: yPath,
                                        source: "npy X=\(xPath) Y=\(yPath)", multiOutput: multiOutput)
    }
}

/// Throws `DataError.cannotOpen` when `path` exists but is not a regular file (a FIFO would block
/// the read forever; a directory or device is no data file).
public func requireRegularFile(_ path: String) throws {
    guard let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType else { return }
    if type == .typeRegular { return }
    let kind: String
    switch type {
    case .typeDirectory: kind = "directory"
    case .typeCharacterSpecial: kind = "character device"
    case .typeBlockSpecial: kind = "block device"
    case .typeSocket: kind = "socket"
    default: kind = "FIFO or special file"
    }
    throw DataError.cannotOpen(file: path, reason: "is a \(kind), not a regular file")
}

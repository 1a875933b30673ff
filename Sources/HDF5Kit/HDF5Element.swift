import CHDF5

/// Numeric element types stored in HDF5 datasets and attributes (always little-endian in files).
public enum HDF5ElementType: String, Sendable, CaseIterable {
    case float64, float32, int64, int32, int8, uint8

    /// The type written to files.
    var fileType: hid_t {
        switch self {
        case .float64: return eos_H5T_IEEE_F64LE()
        case .float32: return eos_H5T_IEEE_F32LE()
        case .int64: return eos_H5T_STD_I64LE()
        case .int32: return eos_H5T_STD_I32LE()
        case .int8: return eos_H5T_STD_I8LE()
        case .uint8: return eos_H5T_STD_U8LE()
        }
    }

    /// The in-memory type; HDF5 converts from whatever is in the file.
    var memoryType: hid_t {
        switch self {
        case .float64: return eos_H5T_NATIVE_DOUBLE()
        case .float32: return eos_H5T_NATIVE_FLOAT()
        case .int64: return eos_H5T_NATIVE_INT64()
        case .int32: return eos_H5T_NATIVE_INT32()
        case .int8: return eos_H5T_NATIVE_INT8()
        case .uint8: return eos_H5T_NATIVE_UINT8()
        }
    }

    /// Size of one element in bytes.
    public var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .int8, .uint8: return 1
        }
    }
}

/// A Swift type that maps to an HDF5 numeric type.
public protocol HDF5Element: Sendable {
    static var hdf5Type: HDF5ElementType { get }
    init()
}

extension Double: HDF5Element { public static var hdf5Type: HDF5ElementType { .float64 } }
extension Float: HDF5Element { public static var hdf5Type: HDF5ElementType { .float32 } }
extension Int64: HDF5Element { public static var hdf5Type: HDF5ElementType { .int64 } }
extension Int32: HDF5Element { public static var hdf5Type: HDF5ElementType { .int32 } }
extension Int8: HDF5Element { public static var hdf5Type: HDF5ElementType { .int8 } }
extension UInt8: HDF5Element { public static var hdf5Type: HDF5ElementType { .uint8 } }

/// What an object's datatype is, as stored in the file.
public struct HDF5TypeInfo: Sendable, Equatable, CustomStringConvertible {
    public enum TypeClass: String, Sendable {
        case integer, float, string, other
    }

    public var typeClass: TypeClass
    /// Size in bytes of one element (for variable-length strings, the pointer size).
    public var size: Int
    /// For integers: whether signed.
    public var isSigned: Bool
    /// For strings: variable length (true) or fixed length (false).
    public var isVariableLengthString: Bool
    /// For strings: UTF-8 (true) or ASCII (false).
    public var isUTF8: Bool

    /// The numeric element type this matches exactly, if any.
    public var elementType: HDF5ElementType? {
        switch (typeClass, size, isSigned) {
        case (.float, 8, _): return .float64
        case (.float, 4, _): return .float32
        case (.integer, 8, true): return .int64
        case (.integer, 4, true): return .int32
        case (.integer, 1, true): return .int8
        case (.integer, 1, false): return .uint8
        default: return nil
        }
    }

    /// Short name: "float64", "int64", "uint8", "string", "vlen string", "other".
    public var description: String {
        switch typeClass {
        case .float: return "float\(size * 8)"
        case .integer: return (isSigned ? "int" : "uint") + "\(size * 8)"
        case .string: return isVariableLengthString ? "vlen string" : "string[\(size)]"
        case .other: return "other"
        }
    }

    static func of(type t: hid_t) -> HDF5TypeInfo {
        withHDF5Lock { unlockedOf(type: t) }
    }

    private static func unlockedOf(type t: hid_t) -> HDF5TypeInfo {
        let cls = H5Tget_class(t)
        let size = Int(H5Tget_size(t))
        var info = HDF5TypeInfo(typeClass: .other, size: size, isSigned: false,
                                isVariableLengthString: false, isUTF8: false)
        switch cls {
        case H5T_INTEGER:
            info.typeClass = .integer
            info.isSigned = H5Tget_sign(t) == H5T_SGN_2
        case H5T_FLOAT:
            info.typeClass = .float
            info.isSigned = true
        case H5T_STRING:
            info.typeClass = .string
            info.isVariableLengthString = H5Tis_variable_str(t) > 0
            info.isUTF8 = H5Tget_cset(t) == H5T_CSET_UTF8
        default:
            break
        }
        _ = H5Eclear2(eos_H5E_DEFAULT())
        return info
    }
}

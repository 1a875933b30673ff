import CHDF5
public func hdf5Version() -> String {
    var maj: UInt32 = 0, min: UInt32 = 0, rel: UInt32 = 0
    H5get_libversion(&maj, &min, &rel)
    _ = eos_silence_errors()
    return "\(maj).\(min).\(rel)"
}

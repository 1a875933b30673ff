import TrajectoryFormat

/// libFuzzer entry point of the validator harness: `Validator().validate(path:)` on the input,
/// what `eostrace validate` runs.
@_cdecl("LLVMFuzzerTestOneInput")
public func validatorFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let path = FuzzInput.write(data, size) else { return 0 }
    _ = try? Validator().validate(path: path)
    return 0
}

import TrajectoryFormat

/// libFuzzer entry point of the reader harness: opens the input as a recording and runs every
/// read `info`, `dump`, `analyze` and `report` make (metadata, status, counts, every series of
/// the schema whole, v₁, data), ignoring thrown errors. Crashes, hangs and ASan reports are
/// what libFuzzer reports.
@_cdecl("LLVMFuzzerTestOneInput")
public func readerFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let path = FuzzInput.write(data, size) else { return 0 }
    guard let r = try? TrajectoryReader(path: path) else { return 0 }
    defer { r.close() }
    _ = try? RecordingInfo.collect(r)
    _ = try? r.status()
    _ = try? r.stepCount()
    for spec in TrajectorySchema.current.datasets where r.has(spec.path) {
        _ = try? r.readRows(spec.path)
    }
    _ = try? r.leadingEigenvectors()
    _ = try? r.X()
    _ = try? r.Y()
    if let dump = try? FileDump(path: path) {
        for spec in TrajectorySchema.current.datasets { _ = try? dump.dataset(spec.path, from: 0, to: 4) }
    }
    return 0
}

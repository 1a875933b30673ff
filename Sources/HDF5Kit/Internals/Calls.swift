import CHDF5
import Foundation

// The one internal layer through which every HDF5 C call goes. Callers wrap the C call in a
// closure; a negative return value becomes an `HDF5Error` carrying file, object, operation and
// the messages HDF5 pushed on its error stack (read with H5Ewalk2, then cleared).

/// HDF5's automatic error printing, silenced once per process before the first call.
///
/// Also tells libhdf5 not to register its exit handler (`H5dont_atexit`, before the library
/// initializes): after a failed H5Fclose (disk full) that handler closes dangling dataset ids
/// and segfaults. Every file this layer opens is closed explicitly (close degree STRONG).
let silenceHDF5Errors: Void = {
    _ = H5dont_atexit()
    _ = H5open()
    _ = eos_silence_errors()
}()

/// Every call into libhdf5, and the reading of its error stack after a failure, happens under
/// this process-wide recursive lock (what that guarantees: "Threads" in Sources/HDF5Kit/README.md).
let hdf5Lock = NSRecursiveLock()

@inline(__always)
func withHDF5Lock<T>(_ body: () throws -> T) rethrows -> T {
    hdf5Lock.lock()
    defer { hdf5Lock.unlock() }
    _ = silenceHDF5Errors
    eos_silence_errors_this_thread()
    return try body()
}

/// Where a call happens, for error messages.
struct CallSite: Sendable {
    var file: String
    var object: String

    /// Runs a C call returning `herr_t`; throws when it is negative.
    func check(_ operation: @autoclosure () -> String, _ body: () -> herr_t) throws {
        try withHDF5Lock {
            _ = silenceHDF5Errors
            let r = body()
            if r < 0 { throw error(operation()) }
        }
    }

    /// Runs a C call returning an `hid_t`; throws when it is negative.
    func id(_ operation: @autoclosure () -> String, _ body: () -> hid_t) throws -> hid_t {
        try withHDF5Lock {
            _ = silenceHDF5Errors
            let r = body()
            if r < 0 { throw error(operation()) }
            return r
        }
    }

    /// Runs a C call returning `htri_t` (true/false/negative error).
    func truth(_ operation: @autoclosure () -> String, _ body: () -> htri_t) throws -> Bool {
        try withHDF5Lock {
            _ = silenceHDF5Errors
            let r = body()
            if r < 0 { throw error(operation()) }
            return r > 0
        }
    }

    /// Runs a C call returning a signed size or count; throws when negative.
    func count<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws -> T {
        try withHDF5Lock {
            _ = silenceHDF5Errors
            let r = body()
            if r < 0 { throw error(operation()) }
            return r
        }
    }

    /// Runs a C call whose failure is signalled by a zero return (e.g. H5Tget_size).
    func nonZero<T: BinaryInteger>(_ operation: @autoclosure () -> String, _ body: () -> T) throws -> T {
        try withHDF5Lock {
            _ = silenceHDF5Errors
            let r = body()
            if r == 0 { throw error(operation()) }
            return r
        }
    }

    /// Runs a C call whose result is ignored, with the error stack cleared afterwards
    /// (closing handles in deinit, probing).
    func quiet<T>(_ body: () -> T) -> T {
        withHDF5Lock {
            _ = silenceHDF5Errors
            let r = body()
            _ = H5Eclear2(eos_H5E_DEFAULT())
            return r
        }
    }

    /// Builds the error for a failed call from HDF5's current error stack.
    func error(_ operation: String, kind: HDF5Error.Kind? = nil) -> HDF5Error {
        let stack = ErrorStack.take()
        let k = kind ?? stack.kind
        return HDF5Error(kind: k, file: file, object: object, operation: operation, message: stack.message)
    }

    /// An error raised by our own checks (no HDF5 stack involved).
    func fail(_ kind: HDF5Error.Kind, _ operation: String, _ message: String) -> HDF5Error {
        HDF5Error(kind: kind, file: file, object: object, operation: operation, message: message)
    }
}

/// HDF5's error stack, read once with H5Ewalk2 and cleared.
struct ErrorStack {
    struct Entry {
        var function: String
        var description: String
        var major: String
        var minor: String
    }

    var entries: [Entry]

    static func take() -> ErrorStack {
        var entries: [Entry] = []
        withUnsafeMutablePointer(to: &entries) { list in
            _ = H5Ewalk2(eos_H5E_DEFAULT(), H5E_WALK_DOWNWARD, { _, desc, data in
                guard let desc, let data else { return 0 }
                let list = data.assumingMemoryBound(to: [ErrorStack.Entry].self)
                let e = desc.pointee
                list.pointee.append(ErrorStack.Entry(
                    function: e.func_name.map { String(cString: $0) } ?? "",
                    description: e.desc.map { String(cString: $0) } ?? "",
                    major: ErrorStack.messageText(e.maj_num),
                    minor: ErrorStack.messageText(e.min_num)))
                return 0
            }, list)
        }
        _ = H5Eclear2(eos_H5E_DEFAULT())
        return ErrorStack(entries: entries)
    }

    static func messageText(_ id: hid_t) -> String {
        var buf = [CChar](repeating: 0, count: 256)
        let n = buf.withUnsafeMutableBufferPointer { p in
            H5Eget_msg(id, nil, p.baseAddress, p.count)
        }
        guard n > 0 else { return "" }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// One line: the outermost description, then the innermost (the root cause) with its minor
    /// message, e.g. "unable to open file (file signature not found; Not an HDF5 file)".
    var message: String {
        guard let first = entries.first else { return "" }
        guard entries.count > 1, let last = entries.last else {
            return first.description + (first.minor.isEmpty ? "" : " (\(first.minor))")
        }
        var inner = last.description
        if !last.minor.isEmpty && last.minor != last.description { inner += "; " + last.minor }
        return "\(first.description) (\(inner))"
    }

    var kind: HDF5Error.Kind {
        let text = entries.map { "\($0.description) \($0.minor)" }.joined(separator: " ").lowercased()
        if text.contains("file signature") || text.contains("truncated file") || text.contains("bad superblock")
            || text.contains("not an hdf5") || text.contains("unable to read superblock")
            || text.contains("eof") && text.contains("eoa") {
            return .notHDF5
        }
        if text.contains("already open for write") || text.contains("file consistency flags")
            || text.contains("file locking") || text.contains("unable to lock") {
            return .fileLocked
        }
        if text.contains("no such file") || text.contains("unable to open file: name") {
            return .fileNotFound
        }
        if text.contains("already exists") { return .library }
        if text.contains("doesn't exist") || text.contains("not found") || text.contains("can't locate")
            || text.contains("object not found") {
            return .objectNotFound
        }
        return .library
    }
}

/// Closes an HDF5 identifier of any kind if it is still valid (file close with degree STRONG
/// may already have closed it).
func closeIfValid(_ id: hid_t) {
    guard id >= 0 else { return }
    withHDF5Lock {
        _ = silenceHDF5Errors
        if H5Iis_valid(id) > 0 {
            _ = H5Idec_ref(id)
        }
        _ = H5Eclear2(eos_H5E_DEFAULT())
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The fuzz input as a file on tmpfs (/dev/shm), rewritten for every execution: the readers
/// take paths (and pre-check the bytes on disk before libhdf5 opens them), so the harness
/// exercises exactly what the commands run.
enum FuzzInput {
    static let path: String = {
        let dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        return "\(dir)/eostrace-libfuzz-\(getpid()).h5"
    }()

    /// Writes `size` bytes to `path` (truncating); returns the path, or nil when the write failed.
    static func write(_ data: UnsafePointer<UInt8>, _ size: Int) -> String? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var done = 0
        while done < size {
            let r = Glibc.write(fd, data + done, size - done)
            if r <= 0 { return nil }
            done += r
        }
        return path
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Allocator tuning.
public enum Memory {
    /// glibc `mallopt(M_MMAP_THRESHOLD = -3, 1 GiB)` and `mallopt(M_TRIM_THRESHOLD = -1, 1 GiB)`:
    /// large blocks are served from (and returned to) the heap instead of fresh mmap'ed pages, so
    /// code that allocates many large temporaries (the analysis replay's n×n matrices per step)
    /// does not page-fault. `malloc.h` is not in the Glibc module, hence the lookup. A no-op
    /// elsewhere.
    public static func keepLargeAllocationsInHeap() {
        #if os(Linux)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(sym, to: Mallopt.self)
        _ = mallopt(-3, 1 << 30)
        _ = mallopt(-1, 1 << 30)
        #endif
    }
}

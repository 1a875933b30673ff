#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File identity by `stat(2)`: device and inode.
public enum FileIdentity {
    /// True when both paths name the same existing file (same device and inode: symlinks, hard
    /// links and different spellings of one path all count). false when either does not exist.
    public static func isSameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// `unlink(2)`, errors ignored (a file that is already gone is fine).
    public static func removeIgnoringErrors(_ path: String) {
        _ = unlink(path)
    }
}

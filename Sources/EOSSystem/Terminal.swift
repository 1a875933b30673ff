#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's standard streams.
public enum StandardStreams {
    /// Whether stderr (fd 2) is a terminal (`isatty`).
    public static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    /// Whether stdout (fd 1) is a terminal (`isatty`).
    public static var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) != 0 }

    /// `fflush(NULL)`: every C stdio stream, so that lines printed so far reach a pipe now.
    public static func flushAll() { fflush(nil) }

    /// Sleeps for `milliseconds` (`usleep`; values ≤ 0 return at once).
    public static func sleep(milliseconds: Int) {
        if milliseconds > 0 { usleep(useconds_t(milliseconds * 1000)) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed POSIX call: the `errno` it left and its `strerror` text.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The raw `errno` value.
    public var code: Int32

    public init(code: Int32) { self.code = code }

    /// The `errno` of the last failed call in this thread.
    public static var last: SystemError { SystemError(code: errno) }

    /// `strerror(code)`, e.g. "No such file or directory".
    public var message: String { String(cString: strerror(code)) }

    /// True for ENOENT.
    public var isNoSuchFile: Bool { code == ENOENT }

    public var description: String { message }
}

import ArgumentParser
import Foundation

/// How every subcommand ends on bad input: one line on stderr naming the file, the object and the
/// problem, and a non-zero exit code. Subcommands call `failure(_:code:)` or wrap their body in
/// `reportingErrors(code:_:)`; nothing else prints errors.
public enum CLIExit {
    /// Valid input, work done.
    public static let ok: Int32 = 0
    /// The input was read but is invalid (validation problems, failed checks).
    public static let invalid: Int32 = 1
    /// The input could not be read at all (not HDF5, missing, unreadable, newer major version).
    public static let unreadable: Int32 = 2
}

/// Prints `eostrace: <message>` on stderr (one line; newlines folded) and returns the exit error.
public func failure(_ message: String, code: Int32 = CLIExit.unreadable) -> ExitCode {
    printError(plainMessage(message))
    return ExitCode(code)
}

/// Runs `body`, turning any thrown error into one stderr line and exit code `code`.
/// `ExitCode` and argument-parser errors pass through unchanged.
public func reportingErrors<T>(code: Int32 = CLIExit.unreadable, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let exit as ExitCode {
        throw exit
    } catch let error as CleanExit {
        throw error
    } catch {
        throw failure(String(describing: error), code: code)
    }
}

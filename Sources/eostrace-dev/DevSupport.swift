import ArgumentParser
import Foundation

/// Exit codes of the tools, the same as the product CLI's (`CLIExit` in Sources/eostrace).
enum DevExit {
    /// Valid input, work done.
    static let ok: Int32 = 0
    /// The input was read but is invalid.
    static let invalid: Int32 = 1
    /// The input could not be read at all.
    static let unreadable: Int32 = 2
}

/// Prints `eostrace: <message>` on stderr (one line; newlines folded) and returns the exit error.
/// The prefix is the product's: scripts and tests check the tools' failure lines as they check
/// the CLI's.
func failure(_ message: String, code: Int32 = DevExit.unreadable) -> ExitCode {
    let line = message.replacingOccurrences(of: "\n", with: " ")
    FileHandle.standardError.write(Data("eostrace: \(line)\n".utf8))
    return ExitCode(code)
}

/// Runs `body`, turning any thrown error into one stderr line and exit code `code`.
/// `ExitCode` and argument-parser errors pass through unchanged.
func reportingErrors<T>(code: Int32 = DevExit.unreadable, _ body: () throws -> T) throws -> T {
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

/// A JSON string literal (Foundation's encoder; slashes left as they are).
func jsonString(_ s: String) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}

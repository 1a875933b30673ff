import ArgumentParser
import EOSCommandLine
import EOSSystem
import Foundation
import TrajectoryFormat

/// A JSON string literal (Foundation's encoder; slashes left as they are).
func jsonString(_ s: String) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}

/// The product's rule for a finished output of a developer tool (`make-sample --out`,
/// `bench-write`'s file, `bench-multi --dump`): an existing file is replaced only with `force`,
/// a file another process is writing never; the bytes go to a temporary file beside `path`
/// that `body` fills (it is given that path) and that is renamed into place only when complete
/// (`OutputFile.produce`). One stderr line: exit 1 when refused, 2 when writing failed.
func writeOutput(_ path: String, force: Bool, _ body: (String) throws -> Void) throws {
    do {
        try OutputFile.produce(path, force: force, body)
    } catch let e as OutputFile.Failure {
        throw failure(e.description, code: e.kind == .refused ? CLIExit.invalid : CLIExit.unreadable)
    }
}

/// The same rule for the live writers (`synthetic-writer`, `write-forever`), whose file is a
/// live recording written in place (made safe by the writer's order, like `record`'s): an
/// existing file only with `force` (exit 1), never one another process is writing (exit 2).
func checkLiveOutput(_ path: String, force: Bool) throws {
    guard AtomicFile.status(path) != nil || AtomicFile.nameExists(path) else { return }
    let withoutLock = OutputFile.liveWriterProblem(path, checkingWriterLock: false)
    // A live eostrace writer's file: `TrajectoryWriter` refuses it itself, in its own words.
    if OutputFile.liveWriterProblem(path) != withoutLock { return }
    if let live = withoutLock { throw failure("\(path): \(live)") }
    if !force { throw failure("\(path): exists; pass --force to replace it", code: CLIExit.invalid) }
}

/// `OutputFile.check` for a developer tool (one stderr line, exit 1): before any work starts,
/// e.g. for every file of a set so that none is written when one is refused.
func checkOutput(_ path: String, force: Bool) throws {
    do { try OutputFile.check(path, force: force) } catch let e as OutputFile.Failure {
        throw failure(e.description, code: e.kind == .refused ? CLIExit.invalid : CLIExit.unreadable)
    }
}

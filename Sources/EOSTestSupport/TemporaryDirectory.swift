import Foundation

/// A fresh directory under the system temporary directory, named `<prefix>-<UUID>`; `remove()`
/// deletes it with its contents (tests call it in tearDown).
public struct TemporaryDirectory: Sendable {
    /// The directory.
    public let url: URL

    /// Creates the directory.
    public init(prefix: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the directory.
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Deletes the directory and everything in it (errors ignored).
    public func remove() { try? FileManager.default.removeItem(at: url) }

    /// Copies `file` into $EOSTRACE_KEEP_DIR when that is set (for inspecting test files with
    /// other tools: `EOSTRACE_KEEP_DIR=/some/dir swift test ...`).
    public static func keep(_ file: String) {
        guard let keep = ProcessInfo.processInfo.environment["EOSTRACE_KEEP_DIR"] else { return }
        let dest = URL(fileURLWithPath: keep).appendingPathComponent(URL(fileURLWithPath: file).lastPathComponent)
        try? FileManager.default.removeItem(at: dest)
        try? FileManager.default.copyItem(at: URL(fileURLWithPath: file), to: dest)
    }
}

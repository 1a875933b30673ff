import ArgumentParser
import Foundation

/// The one exit path of the CLI: parses the arguments with swift-argument-parser, runs the
/// command, and prints every error — ours and the parser's — as one stderr line starting with
/// `eostrace: ` (the prefix of `failure(_:code:)`). Help and `--version` print on stdout, exit 0.
///
/// Usage errors (unknown command or option, missing or unparsable value, a refused flag
/// combination) exit 64 (`EX_USAGE`, argument-parser's code); the line ends with the command's
/// `--help` to read. An unknown subcommand gets the nearest one ("did you mean 'analyze'?"), an
/// unknown option argument-parser's own suggestion. A negative number after an option
/// (`--lr -1`) is its value, not an unknown short option, so the command's own check can say
/// what is wrong with it.
public enum CommandRunner {
    public static func main<Root: ParsableCommand>(_ root: Root.Type, arguments: [String]) -> Never {
        let args = joiningNegativeValues(arguments)
        let name = root.configuration.commandName ?? "eostrace"
        let subcommands = root.configuration.subcommands.compactMap { $0.configuration.commandName }
        if let first = args.first, !first.hasPrefix("-"), !subcommands.isEmpty,
           !subcommands.contains(first), first != "help" {
            var line = "unknown command '\(first)'"
            if let near = nearest(first, in: subcommands) { line += "; did you mean '\(near)'?" }
            line += " (see '\(name) --help')"
            printError(line)
            exit(ExitCode.validationFailure.rawValue)
        }
        do {
            var command = try root.parseAsRoot(args)
            try command.run()
            exit(0)
        } catch let e as ExitCode {
            exit(e.rawValue)
        } catch {
            let code = root.exitCode(for: error)
            if code == .success {
                print(root.fullMessage(for: error))
                exit(0)
            }
            let sub = args.first.flatMap { subcommands.contains($0) ? $0 : nil }
            let text = root.message(for: error)
            // An `ExitCode` thrown from validate() arrives wrapped: its line is already printed.
            if text.isEmpty { exit(code.rawValue) }
            var line = plainMessage(text)
            if let first = line.first { line = first.lowercased() + line.dropFirst() }
            line = line.replacingOccurrences(of: ". Did you mean", with: "; did you mean")
            if code == .validationFailure {
                line += " (see '\(name)\(sub.map { " " + $0 } ?? "") --help')"
            }
            printError(line)
            exit(code.rawValue)
        }
    }

    /// `--opt -1` → `--opt=-1` (up to a `--` terminator): a value that looks like a negative
    /// number is never an option (no eostrace option is a digit).
    public static func joiningNegativeValues(_ args: [String]) -> [String] {
        var out: [String] = []
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { out += args[i...]; break }
            if a.hasPrefix("--"), !a.contains("="), i + 1 < args.count, isNegativeNumber(args[i + 1]) {
                out.append(a + "=" + args[i + 1]); i += 2; continue
            }
            out.append(a); i += 1
        }
        return out
    }

    static func isNegativeNumber(_ s: String) -> Bool {
        guard s.count >= 2, s.first == "-" else { return false }
        let rest = s.dropFirst()
        guard let c = rest.first, c.isNumber || (c == "." && rest.count > 1) else { return false }
        return Double(rest.split(separator: ":").first.map(String.init) ?? "") != nil
    }

    /// The candidate with the smallest edit distance to `word` when it is at most half as long
    /// (at least 2), else nil.
    public static func nearest(_ word: String, in candidates: [String]) -> String? {
        var best: (String, Int)?
        for c in candidates {
            let d = editDistance(word, c)
            if best == nil || d < best!.1 { best = (c, d) }
        }
        guard let b = best, b.1 <= max(2, word.count / 2) else { return nil }
        return b.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count)
        var cur = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data("eostrace: \(line.replacingOccurrences(of: "\n", with: " "))\n".utf8))
}

/// libhdf5's own error text in plain words: the OS error of a failed open or create
/// (`unable to open file: name = '…', errno = 2, error message = 'No such file or directory',
/// flags = 13, o_flags = 242` → `no such file or directory`), a missing signature → `not an HDF5
/// file`, a truncated file → its size and the size its superblock states, a checksum failure →
/// corrupt metadata; any other `errno = …`/`flags = …`/`sblock->…` fields and libhdf5's error-class
/// words ("; Read failed") dropped. Messages without such text pass
/// unchanged.
public func plainMessage(_ message: String) -> String {
    var s = message.replacingOccurrences(of: "\n", with: " ")
    func replace(_ pattern: String, _ template: String) {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return }
        s = re.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: template)
    }
    // "(unable to open file: name = '…', errno = 2, error message = 'X', flags = 13, …)" and
    // "(file write failed: time = …, filename = '…', errno = 28, error message = 'X', buf = …)":
    // the OS's message X is kept with what failed; the fields around it go.
    if let re = try? NSRegularExpression(pattern: #"errno = -?\d+, error message = '([^']*)'"#) {
        while let m = re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)),
              let whole = Range(m.range, in: s), let why = Range(m.range(at: 1), in: s) {
            let reason = String(s[why])
            let open = s[..<whole.lowerBound].lastIndex(of: "(")
            let start = open.map { s.index(after: $0) } ?? s.startIndex
            let head = s[start..<whole.lowerBound]
            let what = head.range(of: ": ").map { String(head[..<$0.lowerBound]) } ?? ""
            let end = s[whole.upperBound...].firstIndex(of: ")") ?? s.endIndex
            s.replaceSubrange(start..<end, with: what.isEmpty ? reason : what + ": " + reason)
        }
    }
    replace(#"unable to open file \(truncated file: eof = (\d+), sblock->base_addr = \d+, stored_eof = (\d+); File has been truncated\)"#,
            "the file is truncated ($1 bytes; its HDF5 superblock says $2)")
    replace(#"incorrect metadata checksum after all read attempts"#, "corrupt HDF5 metadata (checksum mismatch)")
    replace(#"unable to open file \(file signature not found; Not an HDF5 file\)"#, "not an HDF5 file (no HDF5 signature)")
    replace(#"file signature not found; Not an HDF5 file"#, "not an HDF5 file (no HDF5 signature)")
    replace(#",? ?\b(name = '[^']*'|errno = -?\d+|error message = '[^']*'|o_flags = [0-9a-fx]+|flags = [0-9a-fx]+|sblock->\w+ = \w+|stored_eof = \d+|eof = \d+)"#, "")
    // libhdf5's error-class words after the detail ("…; Read failed", "…; Bad value").
    replace(#"; (Read failed|Bad value|Unable to open file|File has been truncated|Not an HDF5 file|Unable to initialize object|Can't open object|Object not found|Inappropriate type|Address overflow|Wrong B-tree signature|Unable to create file|Unable to truncate file|Unable to close file|Write failed|Seek failed|Can't get value|Unable to load metadata into cache|Bad object header link count)\)"#, ")")
    replace(#"\(\s*[,;]?\s*"#, "(")
    replace(#"\(\s*\)"#, "")
    replace(#"  +"#, " ")
    return s.trimmingCharacters(in: .whitespaces)
}

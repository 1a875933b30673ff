import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Last line of defence against bugs of libhdf5 1.10 on corrupted files.
///
/// The fuzzer (`eostrace _fuzz`, scripts/fuzz.sh) finds files whose corrupted global heap makes
/// libhdf5 itself dereference bad pointers (H5HG_read, H5DS* on a garbage DIMENSION_LIST, ...)
/// — inside the C library, below any check our code can make. Installed at start-up, this turns
/// SIGSEGV, SIGBUS, SIGFPE and SIGABRT into the CLI's usual failure: one line on stderr naming
/// the file(s) of the command line and the problem, exit status 2 (unreadable input). Only
/// `write(2)` and `_exit(2)` run in the handler (async-signal-safe); the message is built
/// before. Swift traps (SIGILL/SIGTRAP: bugs in our own code) are left alone so they stay
/// visible. The fuzzer's children reset the handlers to count raw crashes.
enum CrashGuard {
    static let signals: [Int32] = [SIGSEGV, SIGBUS, SIGFPE, SIGABRT]
    /// One prebuilt message per guarded signal (index in `signals`), never freed.
    nonisolated(unsafe) static var messages: [UnsafeMutableBufferPointer<UInt8>] = []

    static func install(arguments: [String]) {
        // The operands of the subcommand (files to read or write), as given.
        let files = arguments.dropFirst(2).filter { !$0.hasPrefix("-") && ($0.contains("/") || $0.contains(".")) }
        let subject = files.isEmpty ? "eostrace" : files.joined(separator: ", ")
        messages = signals.map { sig in
            let name = String(cString: strsignal(sig))
            // The read-only commands meet this only on damaged files; for the others say less.
            let reading = ["validate", "info", "dump", "follow", "analyze", "report", "compare"]
                .contains(arguments.dropFirst().first ?? "")
            let text = reading
                ? "eostrace: \(subject): the HDF5 library failed fatally (\(name)) while reading: the file is corrupt\n"
                : "eostrace: \(subject): failed fatally (\(name)); the file may be incomplete (its status may still say 'running')\n"
            let bytes = Array(text.utf8)
            let buf = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
            _ = buf.initialize(from: bytes)
            return buf
        }
        for sig in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                let i = CrashGuard.signals.firstIndex(of: sig) ?? 0
                let m = CrashGuard.messages[i]
                _ = write(2, m.baseAddress, m.count)
                _exit(2)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
    }

    /// Back to the default actions (fuzz children: crashes must show as signals).
    static func uninstall() {
        for sig in signals { signal(sig, SIG_DFL) }
    }
}

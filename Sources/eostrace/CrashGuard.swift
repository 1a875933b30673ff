import EOSCommandLine
import EOSSystem

/// Last line of defence against bugs of libhdf5 1.10 on corrupted files.
///
/// The fuzzer (`eostrace-dev fuzz`, scripts/fuzz.sh) finds files whose corrupted global heap makes
/// libhdf5 itself dereference bad pointers (H5HG_read, H5DS* on a garbage DIMENSION_LIST, ...)
/// — inside the C library, below any check our code can make. Installed at start-up, this turns
/// SIGSEGV, SIGBUS, SIGFPE and SIGABRT into the CLI's usual failure: one line on stderr naming
/// the file(s) of the command line and the problem, exit status 2 (unreadable input). The
/// mechanism (async-signal-safe handler, prebuilt messages) is `EOSSystem.FatalSignalGuard`;
/// this type only words the message. Swift traps (SIGILL/SIGTRAP: bugs in our own code) are left
/// alone so they stay visible.
enum CrashGuard {
    static func install(arguments: [String]) {
        // The operands of the subcommand (files to read or write), as given.
        let files = arguments.dropFirst(2).filter { !$0.hasPrefix("-") && ($0.contains("/") || $0.contains(".")) }
        let subject = files.isEmpty ? "eostrace" : files.joined(separator: ", ")
        // The read-only commands meet this only on damaged files; for the others say less.
        let reading = ["validate", "info", "dump", "follow", "analyze", "report", "compare"]
            .contains(arguments.dropFirst().first ?? "")
        FatalSignalGuard.install(exitStatus: CLIExit.unreadable) { name in
            reading
                ? "eostrace: \(subject): the HDF5 library failed fatally (\(name)) while reading: the file is corrupt\n"
                : "eostrace: \(subject): failed fatally (\(name)); the file may be incomplete (its status may still say 'running')\n"
        }
    }
}

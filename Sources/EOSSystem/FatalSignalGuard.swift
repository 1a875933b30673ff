#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns the fatal signals of memory errors inside C libraries (SIGSEGV, SIGBUS, SIGFPE,
/// SIGABRT) into one prebuilt line on stderr and `_exit(status)`.
///
/// Only `write(2)` and `_exit(2)` run in the handler (async-signal-safe); the messages are built
/// by `install` and never freed. Swift traps (SIGILL/SIGTRAP: bugs in our own code) are left
/// alone so they stay visible. `uninstall` restores the default actions (a fuzzer's children,
/// whose crashes must show as signals).
public enum FatalSignalGuard {
    /// The guarded signals, in this order.
    public static let signals: [Int32] = [SIGSEGV, SIGBUS, SIGFPE, SIGABRT]
    /// One prebuilt message per guarded signal (index in `signals`).
    nonisolated(unsafe) static var messages: [UnsafeMutableBufferPointer<UInt8>] = []
    /// The exit status of the handler.
    nonisolated(unsafe) static var exitStatus: Int32 = 2

    /// Installs the handlers. `message(name)` gives the whole text (newline included) written on
    /// stderr for the signal named `name` (`strsignal`, e.g. "Segmentation fault").
    public static func install(exitStatus: Int32 = 2, message: (String) -> String) {
        FatalSignalGuard.exitStatus = exitStatus
        messages = signals.map { sig in
            let bytes = Array(message(signalName(sig)).utf8)
            let buf = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
            _ = buf.initialize(from: bytes)
            return buf
        }
        for sig in signals {
            var action = sigaction()
            #if os(Linux)
            action.__sigaction_handler.sa_handler = handler
            #else
            action.__sigaction_u.__sa_handler = handler
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
    }

    private static let handler: @convention(c) (Int32) -> Void = { sig in
        let i = FatalSignalGuard.signals.firstIndex(of: sig) ?? 0
        let m = FatalSignalGuard.messages[i]
        _ = write(2, m.baseAddress, m.count)
        _exit(FatalSignalGuard.exitStatus)
    }

    /// Back to the default actions of the guarded signals.
    public static func uninstall() {
        for sig in signals { signal(sig, SIG_DFL) }
    }

    /// `strsignal(sig)`, e.g. "Segmentation fault".
    public static func signalName(_ sig: Int32) -> String { String(cString: strsignal(sig)) }
}

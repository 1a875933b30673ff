#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation

/// `signal(2)` (outside `StopRequest`, whose `signal` property would hide it).
private func setDisposition(_ sig: Int32, _ handler: __sighandler_t?) { _ = signal(sig, handler) }

/// A flag set by SIGINT/SIGTERM: the signals' default actions are replaced by `SIG_IGN` and they
/// are delivered through dispatch signal sources (so nothing runs in a signal handler); long
/// loops check `isSet` once per unit of work and stop cleanly. (`SIG_IGN` survives exec: child
/// processes started afterwards ignore the signals too unless they install their own.)
///
/// The sources register asynchronously: a signal in the first moments after `install` is
/// ignored like any other.
///
/// Used by `eostrace record` (and its sweeps) to end a run as `interrupted`.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    private var received: Int32?
    private var sources: [DispatchSourceSignal] = []

    /// Whether a stop was requested.
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }

    /// The first signal that requested the stop (SIGINT, SIGTERM), nil when none did (or `set()`
    /// was called without one).
    public var signal: Int32? { lock.lock(); defer { lock.unlock() }; return received }

    /// Requests a stop (as the signals do); `signal` is remembered when it is the first.
    public func set(signal: Int32? = nil) {
        lock.lock()
        if !value { received = signal }
        value = true
        lock.unlock()
    }

    /// The exit status for a run ended by this stop: 128 + the signal (130 SIGINT, 143 SIGTERM),
    /// 130 when no signal is known.
    public var exitStatus: Int32 { 128 + (signal ?? SIGINT) }

    /// "SIGINT", "SIGTERM", ... for the remembered signal ("stop request" when none).
    public var signalName: String {
        switch signal {
        case SIGINT?: return "SIGINT"
        case SIGTERM?: return "SIGTERM"
        case let s?: return "signal \(s)"
        case nil: return "stop request"
        }
    }

    /// Makes the process survive exceeding `ulimit -f` (RLIMIT_FSIZE): SIGXFSZ is ignored, so the
    /// write that would pass the limit fails with EFBIG and is reported like any I/O error,
    /// instead of the process dying without a word.
    public static func ignoreFileSizeLimitSignal() {
        setDisposition(SIGXFSZ, SIG_IGN)
    }

    private init() {}

    /// Installs the sources for `signals` (default SIGINT, SIGTERM) and returns the flag.
    public static func install(signals: [Int32] = [SIGINT, SIGTERM]) -> StopRequest {
        let flag = StopRequest()
        for sig in signals {
            setDisposition(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { flag.set(signal: sig) }
            src.resume()
            flag.sources.append(src)
        }
        return flag
    }
}

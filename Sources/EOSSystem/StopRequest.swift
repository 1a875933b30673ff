#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation

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
    private var sources: [DispatchSourceSignal] = []

    /// Whether a stop was requested.
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }

    /// Requests a stop (as the signals do).
    public func set() { lock.lock(); value = true; lock.unlock() }

    private init() {}

    /// Installs the sources for `signals` (default SIGINT, SIGTERM) and returns the flag.
    public static func install(signals: [Int32] = [SIGINT, SIGTERM]) -> StopRequest {
        let flag = StopRequest()
        for sig in signals {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { flag.set() }
            src.resume()
            flag.sources.append(src)
        }
        return flag
    }
}

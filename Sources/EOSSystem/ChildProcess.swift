#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One forked child that runs a closure under limits (the fuzzer's case runner).
public enum ChildProcess {
    /// How a child ended.
    public enum Termination: Equatable, Sendable {
        /// `exit(code)` (0...255).
        case exited(Int32)
        /// Killed by signal `sig`.
        case signaled(Int32)
        /// `fork` failed.
        case forkFailed
    }

    /// Limits and redirections of the child.
    public struct Limits: Sendable {
        /// stderr goes to this file (created/truncated, mode 0644); nil: inherited.
        public var standardErrorPath: String?
        /// stdout goes to /dev/null.
        public var discardStandardOutput: Bool
        /// RLIMIT_AS in MiB (soft = hard); nil: unchanged.
        public var addressSpaceMiB: Int?
        /// RLIMIT_CPU soft limit in seconds (hard = soft + 1); nil: unchanged.
        public var cpuSeconds: UInt32?
        /// `alarm(seconds)` before the body (SIGALRM = timeout); nil: none.
        public var alarmSeconds: UInt32?

        public init(standardErrorPath: String? = nil, discardStandardOutput: Bool = false, addressSpaceMiB: Int? = nil,
                    cpuSeconds: UInt32? = nil, alarmSeconds: UInt32? = nil) {
            self.standardErrorPath = standardErrorPath
            self.discardStandardOutput = discardStandardOutput
            self.addressSpaceMiB = addressSpaceMiB
            self.cpuSeconds = cpuSeconds
            self.alarmSeconds = alarmSeconds
        }
    }

    /// Forks; the child applies `limits` (redirections, then the rlimits), calls `prepare`
    /// (e.g. `FatalSignalGuard.uninstall`), arms the alarm and `_exit`s with `body()`. The parent
    /// waits for it (retrying on EINTR). Flush stdio before calling (the child inherits buffers).
    public static func run(limits: Limits, prepare: () -> Void = {}, body: () -> Int32) -> Termination {
        let pid = fork()
        if pid == 0 {
            if let path = limits.standardErrorPath {
                let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                if fd >= 0 { dup2(fd, 2); close(fd) }
            }
            if limits.discardStandardOutput {
                let null = open("/dev/null", O_WRONLY)
                if null >= 0 { dup2(null, 1); close(null) }
            }
            if let mb = limits.addressSpaceMiB {
                var lim = rlimit(rlim_cur: rlim_t(mb) << 20, rlim_max: rlim_t(mb) << 20)
                setrlimit(resource(RLIMIT_AS), &lim)
            }
            if let cpu = limits.cpuSeconds {
                var lim = rlimit(rlim_cur: rlim_t(cpu), rlim_max: rlim_t(cpu) + 1)
                setrlimit(resource(RLIMIT_CPU), &lim)
            }
            prepare()
            if let s = limits.alarmSeconds { alarm(s) }
            _exit(body())
        }
        if pid < 0 { return .forkFailed }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let sig = status & 0x7f
        if sig == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(sig)
    }

    #if os(Linux)
    private static func resource(_ r: __rlimit_resource) -> Int32 { Int32(r.rawValue) }
    #else
    private static func resource(_ r: Int32) -> Int32 { r }
    #endif

    /// SIGALRM (the alarm of `Limits.alarmSeconds`).
    public static let alarmSignal: Int32 = SIGALRM
    /// SIGKILL and SIGXCPU: what the CPU limit ends a child with.
    public static let cpuLimitSignals: [Int32] = [SIGKILL, SIGXCPU]

    /// This process's id.
    public static var currentID: Int32 { getpid() }
}

import ArgumentParser
import EOSCommandLine
import EOSNumerics
import EOSSystem
import Foundation
import TrajectoryFormat

/// Mutation fuzzer: `eostrace-dev fuzz --cases N --seed S --corpus DIR`.
///
/// Each case takes a corpus file (seeded choice), applies 1–3 byte-level mutations (bit flips,
/// byte overwrites, integer-field smashes, block copies, truncation, appended garbage; half of
/// them aimed at the superblock or at HDF5 structure signatures: OHDR, TREE, HEAP, SNOD, B-tree
/// and heap blocks), writes the result to a work file and runs the reader checks on it in a
/// forked child process (fork per case: a trap or a segfault kills only the child). The checks
/// are what `validate`, `info` and `follow` do, in-process: `Validator().validate`, the reader
/// opened plainly and as SWMR reader, `RecordingInfo.collect`/`text` (what `info` prints), status with writer liveness,
/// every series read in full, X and Y. The child exits 0 (valid), 1 (invalid) or 2 (unreadable);
/// anything else is a finding:
/// - exit by a signal = crash (SIGILL/SIGTRAP: Swift trap; SIGSEGV/SIGBUS/SIGABRT: memory error
///   or C assertion, usually inside libhdf5), the child's stderr is kept;
/// - SIGALRM = hang (the child arms `alarm(--timeout)`); SIGKILL/SIGXCPU = CPU limit;
/// - any other exit code = bad exit.
/// The child runs with RLIMIT_AS = --memory-mb so a corrupted extent cannot exhaust the machine
/// (a failed allocation then shows up as a crash: the reader must refuse absurd sizes first).
/// Findings are copied to --findings DIR (`<kind>-case<N>.h5` + `findings.txt`).
/// Start it with SWIFT_BACKTRACE=enable=no (scripts/fuzz.sh does) so that a crashing child does
/// not spend seconds symbolicating.
///
/// `eostrace-dev fuzz --check FILE` runs the same checks on one file in-process and exits 0/1/2.
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz", abstract: "Mutation fuzzer for the reader and validator (test helper).")

    @Option(help: "Number of cases.") var cases: Int = 1000
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(parsing: .singleValue, help: "Corpus directory or file (repeatable).") var corpus: [String] = []
    @Option(help: "Directory for the mutated work files (default: /dev/shm or $TMPDIR).") var work: String?
    @Option(help: "Directory to copy crashers and hangs to.") var findings: String?
    @Option(help: "Seconds before a case counts as a hang.") var timeout: UInt32 = 10
    @Option(name: .customLong("memory-mb"), help: "Address-space limit of each child (MiB).") var memoryMB: Int = 3072
    @Option(help: "Run the checks on this one file and exit 0/1/2.") var check: String?
    @Flag(help: "Print every case.") var verbose = false
    @Option(help: "Print the running counts every N cases (0: only at the end).") var progress: Int = 0

    func run() throws {
        if let check {
            FatalSignalGuard.uninstall()
            throw ExitCode(FuzzChecks.run(path: check))
        }
        let files = try corpusFiles()
        guard !files.isEmpty else { throw failure("fuzz: empty corpus (give --corpus DIR with .h5 files)") }
        let bases: [(String, [UInt8])] = try files.map { f in
            guard let d = FileManager.default.contents(atPath: f) else { throw failure("\(f): cannot read") }
            return (f, [UInt8](d))
        }
        let workDir = work ?? (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        let caseFile = workDir + "/eostrace-fuzz-\(ChildProcess.currentID).h5"
        let errFile = workDir + "/eostrace-fuzz-\(ChildProcess.currentID).err"
        defer {
            FileIdentity.removeIgnoringErrors(caseFile)
            FileIdentity.removeIgnoringErrors(errFile)
        }
        if let findings { try FileManager.default.createDirectory(atPath: findings, withIntermediateDirectories: true) }
        var rng = FuzzRNG(seed: seed)
        var stats = FuzzStats()
        let start = Date()
        for i in 0..<cases {
            let (name, base) = bases[Int(rng.below(UInt64(bases.count)))]
            var bytes = base
            var what: [String] = []
            for _ in 0..<(1 + Int(rng.below(3))) { what.append(Mutator.mutate(&bytes, &rng)) }
            guard FileManager.default.createFile(atPath: caseFile, contents: Data(bytes)) else {
                throw failure("\(caseFile): cannot write the work file")
            }
            let outcome = runChild(caseFile: caseFile, errFile: errFile)
            stats.record(outcome)
            let desc = "case \(i): \((name as NSString).lastPathComponent) \(what.joined(separator: ", ")) -> \(outcome)"
            if verbose { print(desc) }
            if outcome.isFinding {
                print("FINDING " + desc)
                let err = (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
                if !err.isEmpty { print("  stderr: " + err.split(separator: "\n").prefix(6).joined(separator: " | ")) }
                if let findings {
                    let dest = "\(findings)/\(outcome.kind)-seed\(seed)-case\(i).h5"
                    try? FileManager.default.removeItem(atPath: dest)
                    try? FileManager.default.copyItem(atPath: caseFile, toPath: dest)
                    let line = "\(dest): \(desc)\n  stderr: \(err.split(separator: "\n").prefix(20).joined(separator: "\n  "))\n"
                    appendLine(line, to: "\(findings)/findings.txt")
                }
            }
            if progress > 0 && (i + 1) % progress == 0 {
                print("fuzz: after \(i + 1) cases (\(Int(Date().timeIntervalSince(start))) s): \(stats.crashes) crashes, "
                      + "\(stats.hangs) hangs, \(stats.badExits) bad exits; exit 0/1/2: "
                      + "\(stats.exits[0] ?? 0)/\(stats.exits[1] ?? 0)/\(stats.exits[2] ?? 0)")
            }
            StandardStreams.flushAll()
        }
        let dt = Date().timeIntervalSince(start)
        print(String(format: "fuzz: %d cases in %.1f s (%.1f ms/case), seed %llu, %d corpus files", cases, dt,
                     1000 * dt / Double(max(1, cases)), seed, bases.count))
        print("fuzz: exit 0: \(stats.exits[0] ?? 0), exit 1: \(stats.exits[1] ?? 0), exit 2: \(stats.exits[2] ?? 0)")
        print("fuzz: \(stats.crashes) crashes, \(stats.hangs) hangs, \(stats.badExits) bad exits")
        StandardStreams.flushAll()
        if stats.crashes + stats.hangs + stats.badExits > 0 { throw ExitCode(1) }
    }

    private func corpusFiles() throws -> [String] {
        var out: [String] = []
        for c in corpus {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: c, isDirectory: &isDir) else {
                throw failure("\(c): no such corpus file or directory")
            }
            if isDir.boolValue {
                let names = try FileManager.default.contentsOfDirectory(atPath: c).filter { $0.hasSuffix(".h5") }.sorted()
                out += names.map { c + "/" + $0 }
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// One case in a forked child: stderr to `errFile`, stdout discarded, RLIMIT_AS = --memory-mb,
    /// RLIMIT_CPU = 2 × --timeout, no crash guard, `alarm(--timeout)`, then the checks.
    private func runChild(caseFile: String, errFile: String) -> FuzzOutcome {
        StandardStreams.flushAll()
        let limits = ChildProcess.Limits(standardErrorPath: errFile, discardStandardOutput: true, addressSpaceMiB: memoryMB,
                                         cpuSeconds: timeout * 2, alarmSeconds: timeout)
        switch ChildProcess.run(limits: limits, prepare: { FatalSignalGuard.uninstall() },
                                body: { FuzzChecks.run(path: caseFile) }) {
        case .forkFailed:
            return .badExit(-1)
        case .exited(let code):
            return (0...2).contains(code) ? .exit(code) : .badExit(code)
        case .signaled(let sig):
            if sig == ChildProcess.alarmSignal || ChildProcess.cpuLimitSignals.contains(sig) { return .hang }
            return .crash(sig)
        }
    }

    private func appendLine(_ s: String, to path: String) {
        if let h = FileHandle(forWritingAtPath: path) {
            h.seekToEndOfFile()
            h.write(Data(s.utf8))
            h.closeFile()
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: Data(s.utf8))
        }
    }
}

enum FuzzOutcome: CustomStringConvertible {
    case exit(Int32), badExit(Int32), crash(Int32), hang

    var isFinding: Bool {
        if case .exit = self { return false }
        return true
    }

    var kind: String {
        switch self {
        case .exit: return "ok"
        case .badExit: return "badexit"
        case .crash: return "crash"
        case .hang: return "hang"
        }
    }

    var description: String {
        switch self {
        case .exit(let c): return "exit \(c)"
        case .badExit(let c): return "bad exit \(c)"
        case .crash(let s): return "crash (signal \(s): \(FatalSignalGuard.signalName(s)))"
        case .hang: return "hang"
        }
    }
}

struct FuzzStats {
    var exits: [Int32: Int] = [:]
    var crashes = 0, hangs = 0, badExits = 0

    mutating func record(_ o: FuzzOutcome) {
        switch o {
        case .exit(let c): exits[c, default: 0] += 1
        case .badExit: badExits += 1
        case .crash: crashes += 1
        case .hang: hangs += 1
        }
    }
}

/// What `validate`, `info` and `follow` do with a file, in-process. 0 valid, 1 invalid, 2 unreadable.
enum FuzzChecks {
    static func run(path: String) -> Int32 {
        var code = CLIExit.ok
        // validate
        do {
            if try !Validator().validate(path: path).isEmpty { code = CLIExit.invalid }
        } catch {
            code = CLIExit.unreadable
        }
        // info (plain open, SWMR fallback)
        do {
            let r = try TrajectoryReader(path: path)
            defer { r.close() }
            _ = RecordingInfo.text(try RecordingInfo.collect(r))
            _ = try? r.statusReport()
            readEverything(r)
        } catch {
            code = max(code, CLIExit.unreadable)
        }
        // follow (SWMR reader + refresh)
        if let r = try? TrajectoryReader(path: path, swmr: true) {
            _ = try? r.refresh()
            _ = try? r.statusReport()
            if let c = try? r.stepCount(), c > 0 {
                _ = try? r.steps(0..<c)
                _ = try? r.read(Layout.Series.loss, range: 0..<c)
                _ = try? r.read(Layout.Series.sharpness, range: 0..<c)
            }
            _ = try? r.refresh()
            r.close()
        }
        return code
    }

    static func readEverything(_ r: TrajectoryReader) {
        for spec in TrajectorySchema.current.datasets where spec.group == Layout.trajectory && r.has(spec.path) {
            if spec.dtype == "int64" {
                _ = try? r.coordinateValues(of: spec.path)
            } else {
                _ = try? r.readRows(spec.path)
            }
        }
        _ = try? r.eigenvectors()
        if let c = try? r.count(of: Layout.Series.parameters), c > 0 { _ = try? r.parameters(atCheckpointIndex: c - 1) }
        if let c = try? r.count(of: Layout.Series.gram), c > 0 { _ = try? r.gram(atIndex: 0) }
        if r.k > 0, r.n > 0, let c = try? r.stepCount(), c > 0 { _ = try? r.eigenvector(row: c - 1, index: r.k - 1) }
        _ = try? r.X()
        _ = try? r.Y()
        _ = try? r.xReference()
    }
}

/// The fuzzer's random stream: `EOSNumerics.SeededRNG` (xoshiro256** seeded by SplitMix64),
/// with the fuzzer's own reductions (`below` is a plain modulo, so streams of cases stay as they
/// were recorded in findings and regressions).
struct FuzzRNG {
    private var base: SeededRNG

    init(seed: UInt64) { base = SeededRNG(seed: seed) }

    mutating func next() -> UInt64 { base.next() }

    /// Uniform in 0..<n (n > 0).
    mutating func below(_ n: UInt64) -> UInt64 { n <= 1 ? 0 : next() % n }
    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(below(UInt64(range.count))) }
}

/// Byte-level mutations of an HDF5 file.
enum Mutator {
    /// Signatures of HDF5 structures (object headers v2, B-trees v1/v2, local/global/fractal heaps,
    /// symbol table nodes, free-space and extensible/fixed array blocks of chunk indexes).
    static let signatures: [[UInt8]] = ["OHDR", "OCHK", "TREE", "HEAP", "SNOD", "BTHD", "BTIN", "BTLF", "FRHP",
                                        "FHDB", "FHIB", "FSHD", "FSSE", "GCOL", "EAHD", "EAIB", "EASB", "EADB",
                                        "FAHD", "FADB"].map { Array($0.utf8) }
    static let special: [UInt64] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                                    1 << 32, 1 << 40, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, UInt64.max]

    /// An offset in the structure-heavy parts: the superblock area, or near a signature.
    static func target(_ b: [UInt8], _ rng: inout FuzzRNG) -> Int {
        guard b.count > 8 else { return 0 }
        switch rng.below(4) {
        case 0:
            return rng.int(0..<min(b.count, 256))
        case 1, 2:
            // A random signature occurrence: scan from a random start for one of them.
            let start = rng.int(0..<b.count)
            let sig = signatures[Int(rng.below(UInt64(signatures.count)))]
            if let at = find(sig, in: b, from: start) ?? find(sig, in: b, from: 0) {
                return min(b.count - 1, at + rng.int(0..<96))
            }
            return rng.int(0..<min(b.count, 4096))
        default:
            return rng.int(0..<b.count)
        }
    }

    static func find(_ sig: [UInt8], in b: [UInt8], from: Int) -> Int? {
        guard sig.count <= b.count else { return nil }
        var i = from
        while i + sig.count <= b.count {
            if b[i] == sig[0] && b[i + 1] == sig[1] && b[i + 2] == sig[2] && b[i + 3] == sig[3] { return i }
            i += 1
        }
        return nil
    }

    /// Applies one mutation; returns its description.
    static func mutate(_ b: inout [UInt8], _ rng: inout FuzzRNG) -> String {
        guard b.count > 16 else {
            b += (0..<rng.int(1..<64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            return "grow"
        }
        switch rng.below(8) {
        case 0, 1:
            let n = 1 + rng.int(0..<8)
            var at: [Int] = []
            for _ in 0..<n {
                let o = rng.below(2) == 0 ? target(b, &rng) : rng.int(0..<b.count)
                b[o] ^= UInt8(1) << UInt8(rng.below(8))
                at.append(o)
            }
            return "flip bits at \(at)"
        case 2:
            let o = target(b, &rng)
            let len = min(b.count - o, 1 + rng.int(0..<16))
            let fill = rng.below(3)
            for j in o..<(o + len) {
                b[j] = fill == 0 ? UInt8(truncatingIfNeeded: rng.next()) : fill == 1 ? 0 : 0xFF
            }
            return "overwrite \(len) bytes at \(o) with \(["random", "0x00", "0xFF"][Int(fill)])"
        case 3:
            let o = target(b, &rng)
            let width = [1, 2, 4, 8][Int(rng.below(4))]
            var v = special[Int(rng.below(UInt64(special.count)))]
            if rng.below(4) == 0 { v = UInt64(b.count) &+ UInt64(rng.int(0..<3)) &- 1 }
            for j in 0..<width where o + j < b.count { b[o + j] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(j))) }
            return "set \(width)-byte field at \(o) to \(v)"
        case 4:
            let len = 1 + rng.int(0..<min(512, b.count / 2))
            let from = rng.int(0..<(b.count - len))
            let to = rng.below(2) == 0 ? target(b, &rng) : rng.int(0..<b.count)
            let chunk = Array(b[from..<(from + len)])
            for j in 0..<len where to + j < b.count { b[to + j] = chunk[j] }
            return "copy \(len) bytes from \(from) to \(to)"
        case 5:
            let cut = rng.below(2) == 0 ? rng.int(0..<min(b.count, 8192)) : rng.int(0..<b.count)
            b.removeSubrange(cut...)
            return "truncate at \(cut)"
        case 6:
            let n = rng.int(1..<4096)
            let zero = rng.below(2) == 0
            b += (0..<n).map { _ in zero ? 0 : UInt8(truncatingIfNeeded: rng.next()) }
            return "append \(n) \(zero ? "zero" : "random") bytes"
        default:
            // Swap two blocks (objects moved around).
            let len = 1 + rng.int(0..<min(256, b.count / 4))
            let x = target(b, &rng) % (b.count - len)
            let y = rng.int(0..<(b.count - len))
            for j in 0..<len { b.swapAt(x + j, y + j) }
            return "swap \(len) bytes at \(x) and \(y)"
        }
    }
}

import Foundation
import XCTest
import EOSTestSupport
import HDF5Kit
import TrajectoryFormat

/// End-to-end tests of the built `eostrace` binary (EOSTRACE_BIN, or next to the test bundle,
/// or .build/debug/eostrace) and of the developer tools it needs (`eostrace-dev`, EOSTRACE_DEV_BIN,
/// found the same way).
final class CLITests: XCTestCase {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The product CLI.
    static var binary: String? { locate("eostrace", environment: "EOSTRACE_BIN") }

    /// The developer tools (synthetic writers, fuzzer, ...).
    static var devBinary: String? { locate("eostrace-dev", environment: "EOSTRACE_DEV_BIN") }

    /// $`environment`, else `name` next to the test bundle, else .build/debug/`name`.
    static func locate(_ name: String, environment: String) -> String? {
        if let env = ProcessInfo.processInfo.environment[environment] { return env }
        var candidates: [String] = []
        // The xctest bundle (Linux: an executable) lives in the build products directory.
        let runner = URL(fileURLWithPath: CommandLine.arguments.first ?? "")
        candidates.append(runner.deletingLastPathComponent().appendingPathComponent(name).path)
        for b in Bundle.allBundles {
            candidates.append(b.bundleURL.deletingLastPathComponent().appendingPathComponent(name).path)
        }
        candidates.append(repositoryRoot.appendingPathComponent(".build/debug/\(name)").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private var temporary: TemporaryDirectory!
    var dir: URL { temporary.url }

    override func setUpWithError() throws {
        temporary = try TemporaryDirectory(prefix: "clitest")
    }

    override func tearDownWithError() throws {
        temporary?.remove()
    }

    func path(_ name: String) -> String { temporary.path(name) }

    struct Result {
        var code: Int32
        var stdout: String
        var stderr: String
    }

    func run(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        guard let bin = Self.binary else {
            XCTFail("eostrace binary not found; run `swift build` first or set EOSTRACE_BIN", file: file, line: line)
            throw XCTSkip("no binary")
        }
        return try run(bin, args)
    }

    /// Runs `executable` with `args`, collecting both streams.
    func run(_ executable: String, _ args: [String]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(code: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                      stderr: String(decoding: e, as: UTF8.self))
    }

    /// Asserts a failure: the exit code, exactly one stderr line, naming the file, no trap.
    func assertOneLineError(_ r: Result, code: Int32, mentioning: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.code, code, r.stderr, file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(mentioning), "stderr '\(r.stderr)' lacks '\(mentioning)'", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Fatal error"), file: file, line: line)
    }

    /// The product lists user commands only; the developer tools are eostrace-dev's.
    func testHelpListsUserCommandsAndDevToolsSeparately() throws {
        let help = try run(["--help"])
        XCTAssertEqual(help.code, 0, help.stderr)
        let commands = Set(help.stdout.components(separatedBy: "SUBCOMMANDS:").last!.split(separator: "\n")
            .compactMap { $0.hasPrefix("  ") && !$0.hasPrefix("   ") ? $0.split(separator: " ").first.map(String.init) : nil })
        let devTools: Set = ["fuzz", "bench-write", "bench-record", "make-sample", "blas-core", "synthetic-writer", "write-forever"]
        XCTAssertTrue(commands.isSuperset(of: ["record", "analyze", "report", "compare", "follow", "validate", "info", "dump"]), help.stdout)
        XCTAssertTrue(commands.isDisjoint(with: devTools), help.stdout)
        XCTAssertFalse(commands.contains { $0.hasPrefix("_") }, help.stdout)
        for gone in [["_fuzz", "--check", path("x.h5")], ["_write-forever", path("y.h5")], ["bench-write", "--out", path("b")]] {
            XCTAssertEqual(try run(gone).code, 64, "\(gone[0]) is no product command")
        }
        guard let dev = Self.devBinary else { return XCTFail("eostrace-dev binary not found") }
        let devHelp = try run(dev, ["--help"])
        XCTAssertEqual(devHelp.code, 0, devHelp.stderr)
        for tool in devTools { XCTAssertTrue(devHelp.stdout.contains("  \(tool) "), tool) }
    }

    /// No command that was asked to read a recording replaces it: an output path naming the input
    /// (directly, through a symlink or as another spelling) is refused before any work, file intact.
    func testOutputsNeverReplaceTheInputRecording() throws {
        let recording = path("run.h5")
        _ = try writeSynthetic(recording)
        let link = path("link.h5")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: recording)
        let before = try Data(contentsOf: URL(fileURLWithPath: recording))
        let cases: [[String]] = [
            ["report", recording, "-o", link],
            ["report", recording, "-o", dir.path + "/./run.h5"],
            ["compare", recording, "-o", recording],
            ["analyze", recording, "--out", link],
            ["analyze", recording, "--csv", recording],
        ]
        for args in cases {
            let r = try run(args)
            assertOneLineError(r, code: 1, mentioning: "names the input recording")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: recording)), before)
        XCTAssertEqual(try run(["validate", recording]).code, 0)
    }

    func writeSynthetic(_ file: String, steps: Int = 30) throws -> SyntheticRecording {
        let syn = SyntheticRecording(n: 32, k: 3, d: 4, p: 20, learningRate: 0.05, seed: 11)
        let w = try TrajectoryWriter(path: file, metadata: syn.metadata(), X: .stored(values: syn.X, d: 4), Y: syn.Y,
                                     options: WriterOptions(outputs: true, spectrum: true, checkpoints: true))
        for s in 0..<steps {
            try w.append(syn.row(step: Int64(s)))
            if s % 10 == 0 {
                try w.appendSpectrum(step: Int64(s), eigenvalues: syn.eigenvalues(step: Int64(s)))
                try w.appendCheckpoint(step: Int64(s), parameters: syn.parameters(step: Int64(s)))
            }
        }
        try w.close()
        return syn
    }

    func damagedCopy(of base: String, _ name: String, _ body: (HDF5File) throws -> Void) throws -> String {
        let p = path(name)
        try FileManager.default.copyItem(atPath: base, toPath: p)
        let f = try HDF5File.open(p, mode: .readWrite)
        try body(f)
        try f.close()
        return p
    }

    // MARK: validate

    func testValidateSampleFilesPass() throws {
        let samples = try FileManager.default.contentsOfDirectory(atPath: Self.repositoryRoot.appendingPathComponent("samples").path)
            .filter { $0.hasSuffix(".h5") }.map { Self.repositoryRoot.appendingPathComponent("samples/\($0)").path }
        XCTAssertFalse(samples.isEmpty)
        let r = try run(["validate"] + samples)
        XCTAssertEqual(r.code, 0, r.stdout + r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, samples.count)
        for s in samples {
            XCTAssertLessThan((try FileManager.default.attributesOfItem(atPath: s)[.size] as? Int) ?? .max, 2_400_000)   // 1.1: + M-products
        }
    }

    func testValidateExitCodesAndOneLinePerProblem() throws {
        let good = path("good.h5")
        _ = try writeSynthetic(good)
        XCTAssertEqual(try run(["validate", good]).code, 0)

        let missing = try damagedCopy(of: good, "missing.h5") { try $0.group("/trajectory").removeLink("sharpness") }
        let nan = try damagedCopy(of: good, "nan.h5") { try $0.dataset("/trajectory/loss").writeRows([Double.nan], at: 4) }
        let order = try damagedCopy(of: good, "order.h5") { try $0.dataset("/trajectory/step").writeRows([Int64(100)], at: 3) }
        let shape = try damagedCopy(of: good, "shape.h5") { f in
            try f.dataset("/trajectory/residual").setRowCount(20)
        }
        let r = try run(["validate", missing, nan, order, shape])
        XCTAssertEqual(r.code, 1, r.stderr)
        XCTAssertEqual(r.stderr, "")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("\(missing): /trajectory/sharpness: missing required dataset"), r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("\(nan): /trajectory/loss: 1 non-finite values") }, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("\(order): /trajectory/step: steps not strictly increasing") }, r.stdout)
        XCTAssertTrue(lines.contains("\(shape): /trajectory/residual: has 20 rows but /trajectory/step has 30 (inconsistent lengths on the 'step' cadence)"), r.stdout)

        // Unreadable beats invalid: exit 2, one stderr line for the bad file, others still checked.
        let junk = path("junk.h5")
        try Data("definitely not HDF5\n".utf8).write(to: URL(fileURLWithPath: junk))
        let r2 = try run(["validate", good, junk, nan])
        XCTAssertEqual(r2.code, 2)
        assertOneLineError(r2, code: 2, mentioning: junk)
        XCTAssertTrue(r2.stdout.contains("\(good): ok"))
        XCTAssertTrue(r2.stdout.contains(nan))
    }

    func testEveryBadInputGetsOneLineAndExitTwo() throws {
        let good = path("good.h5")
        _ = try writeSynthetic(good)
        let junk = path("junk.h5")
        try Data(repeating: 0x41, count: 5000).write(to: URL(fileURLWithPath: junk))
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        let truncated = path("truncated.h5")
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: truncated))
        let newer = try damagedCopy(of: good, "newer.h5") { try $0.root().setAttribute("format_version", [Int64(3), 0]) }
        let other = path("other.h5")
        do {
            let f = try HDF5File.create(other)
            try f.root().setAttribute("format", "netcdf")
            try f.close()
        }
        for (file, fragment) in [(junk, "not an HDF5"), (truncated, "truncated"), (newer, "newer"),
                                 (other, "not an eostrace trajectory"), (path("absent.h5"), "no such file")] {
            for cmd in [["validate", file], ["info", file], ["info", file, "--json"], ["dump", file, "loss"]] {
                let r = try run(cmd)
                // dump works on any HDF5 file: 'other' has no /trajectory/loss.
                assertOneLineError(r, code: 2, mentioning: file)
                if cmd[0] != "dump" || file != other {
                    XCTAssertTrue(r.stderr.lowercased().contains(fragment.lowercased()), "\(cmd): \(r.stderr)")
                }
            }
        }
        // info on an invalid-but-readable file (missing required attribute) fails cleanly too.
        let noK = try damagedCopy(of: good, "nok.h5") { try $0.group("/run").removeAttribute("k") }
        assertOneLineError(try run(["info", noK]), code: 2, mentioning: "/run@k")
        // Bad arguments: argument-parser's usage error, exit 64, no trap.
        let bad = try run(["dump", good, "loss", "--from", "-3"])
        XCTAssertEqual(bad.code, 64)
    }

    // MARK: info and dump

    func testInfoJSON() throws {
        let good = path("good.h5")
        _ = try writeSynthetic(good)
        let r = try run(["info", good, "--json"])
        XCTAssertEqual(r.code, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(obj["steps"] as? Int, 30)
        XCTAssertEqual(obj["status"] as? String, "completed")
        XCTAssertEqual(obj["n"] as? Int, 32)
        XCTAssertEqual(obj["k"] as? Int, 3)
        XCTAssertEqual(obj["p"] as? Int, 20)
        XCTAssertEqual(obj["last_step"] as? Int, 29)
        let series = (obj["series"] as! [[String: Any]]).map { $0["name"] as! String }
        XCTAssertTrue(series.contains("outputs"))
        XCTAssertTrue(series.contains("spectrum"))
        XCTAssertFalse(series.contains("gram"))
        let text = try run(["info", good])
        XCTAssertEqual(text.code, 0)
        XCTAssertTrue(text.stdout.contains("status:      completed"))
    }

    func testDumpPrintsFullPrecisionJSON() throws {
        let good = path("good.h5")
        let syn = try writeSynthetic(good)
        let r = try run(["dump", good, "loss", "--from", "3", "--to", "6"])
        XCTAssertEqual(r.code, 0, r.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(obj["shape"] as? [Int], [30])
        // Parse numbers ourselves: Double(String) is exact for shortest round-trip output.
        let text = r.stdout
        let dataPart = text[text.range(of: "\"data\":[")!.upperBound...].prefix { $0 != "]" }
        let values = dataPart.split(separator: ",").map { Double($0)! }
        XCTAssertEqual(values, (3..<6).map { syn.row(step: Int64($0)).loss })

        let ev = try run(["dump", good, "/trajectory/eigenvectors", "--from", "2", "--to", "3"])
        let evObj = try JSONSerialization.jsonObject(with: Data(ev.stdout.utf8)) as! [String: Any]
        let nested = evObj["data"] as! [[[Double]]]
        XCTAssertEqual(nested.count, 1)
        XCTAssertEqual(nested[0].count, 3)
        XCTAssertEqual(nested[0][1].count, 32)
        let status = try run(["dump", good, "/run/status"])
        XCTAssertTrue(status.stdout.contains("\"data\":\"completed\""), status.stdout)
        let attr = try run(["dump", good, "/@format_version"])
        XCTAssertTrue(attr.stdout.contains("\"data\":[1,1]"), attr.stdout)   // format 1.1
        let steps = try run(["dump", good, "spectrum_step"])
        XCTAssertTrue(steps.stdout.contains("\"data\":[0,10,20]"), steps.stdout)
        let nan = try damagedCopy(of: good, "nan.h5") { try $0.dataset("/trajectory/loss").writeRows([Double.nan], at: 0) }
        XCTAssertTrue(try run(["dump", nan, "loss", "--to", "1"]).stdout.contains("\"data\":[NaN]"))
    }

    // MARK: crash safety

    /// A writer killed with SIGKILL leaves a file that opens (SWMR read, automatically) and holds
    /// every step up to the last flush.
    func testKilledWriterLeavesEveryFlushedStep() throws {
        guard let dev = Self.devBinary else { return XCTFail("eostrace-dev binary not found") }
        let file = path("killed.h5")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: dev)
        p.arguments = ["write-forever", file, "--flush-every", "7", "--sleep-ms", "2", "--max-seconds", "30"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var lastFlushed = 0
        var buffer = ""
        let handle = out.fileHandleForReading
        while lastFlushed < 35 {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            buffer += String(decoding: chunk, as: UTF8.self)
            for line in buffer.split(separator: "\n") where line.hasPrefix("flushed ") {
                lastFlushed = max(lastFlushed, Int(line.dropFirst(8)) ?? 0)
            }
        }
        // A live recording validates (read as SWMR reader while the writer goes on).
        let live = try run(["validate", file])
        XCTAssertEqual(live.code, 0, live.stdout + live.stderr)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertGreaterThanOrEqual(lastFlushed, 35)

        // A plain read-only open is refused by HDF5 (file still marked open for SWMR writing)...
        XCTAssertThrowsError(try HDF5File.open(file, mode: .readOnly)) { e in
            XCTAssertEqual((e as? HDF5Error)?.kind, .fileLocked, "\(e)")
        }
        // ...our reader falls back to an SWMR read by itself.
        let r = try TrajectoryReader(path: file)
        XCTAssertTrue(r.isSWMRReader)
        let n = try r.stepCount()
        XCTAssertGreaterThanOrEqual(n, lastFlushed)
        XCTAssertEqual(n % 7, 0, "only whole flushed batches: \(n)")
        XCTAssertEqual(try r.steps(), (0..<Int64(n)).map { $0 })
        let syn = SyntheticRecording(n: 32, k: 2, d: 3, p: 0)
        XCTAssertEqual(try r.read("loss"), (0..<n).map { syn.row(step: Int64($0), optional: false).loss })
        XCTAssertEqual(try r.status(), .running)
        r.close()
        // The CLI validates it (status "running" is a valid value) and shows it.
        let v = try run(["validate", file])
        XCTAssertEqual(v.code, 0, v.stdout + v.stderr)
        XCTAssertTrue(try run(["info", file]).stdout.contains("SWMR reader"))
        // Resume clears the marks and continues after the last complete step.
        let w = try TrajectoryWriter.resume(path: file, truncatingAfter: nil)
        XCTAssertEqual(w.stepCount, n)
        try w.append(syn.row(step: Int64(n), optional: false))
        try w.close(status: .interrupted)
        let r2 = try TrajectoryReader(path: file)
        XCTAssertFalse(r2.isSWMRReader)
        XCTAssertEqual(try r2.stepCount(), n + 1)
        XCTAssertEqual(try r2.status(), .interrupted)
    }
}

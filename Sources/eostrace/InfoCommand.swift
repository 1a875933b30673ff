import ArgumentParser
import EOSCommandLine
import Foundation
import TrajectoryFormat

/// `eostrace info FILE [--json]`: what a recording holds (`TrajectoryFormat.RecordingInfo`).
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show what a recording holds: metadata, status, series, cadences, sizes, steps, and /analysis when present.")

    @Argument(help: ArgumentHelp("The recording to describe.", valueName: "recording"))
    var file: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        try reportingErrors {
            let r = try TrajectoryReader(path: file)
            defer { r.close() }
            var info = try RecordingInfo.collect(r)
            let analysis = Self.analysisInfo(path: file)
            if json {
                if let analysis { info["analysis"] = analysis }
                let data = try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(RecordingInfo.text(info))
                if let analysis { print(Self.analysisText(analysis)) }
            }
        }
    }

    /// What `/analysis` holds (written by `analyze --in-place`), nil when the file has none.
    static func analysisInfo(path: String) -> [String: Any]? {
        do {
            let a = try AnalysisResults.read(path: path)
            let present = AnalysisResults.datasetNames
            var out: [String: Any] = ["rows": a.steps.count, "datasets": present, "software_version": a.softwareVersion,
                                      "options": a.options]
            if let first = a.steps.first, let last = a.steps.last { out["first_step"] = first; out["last_step"] = last }
            if let s = a.sourceFile { out["source_file"] = s }
            return out
        } catch let e as TrajectoryError where e.kind == .missingObject && e.object == "/analysis" {
            return nil
        } catch {
            return ["unreadable": plainMessage(String(describing: error))]
        }
    }

    static func analysisText(_ a: [String: Any]) -> String {
        if let why = a["unreadable"] as? String { return "analysis:    /analysis present but unreadable: \(why)" }
        let rows = a["rows"] as? Int ?? 0
        let steps = (a["first_step"] as? Int64).map { f in " (\(f) … \(a["last_step"] as? Int64 ?? f))" } ?? ""
        let names = (a["datasets"] as? [String] ?? []).joined(separator: ", ")
        let version = (a["software_version"] as? String).map { $0.isEmpty ? "" : ", written by eostrace \($0)" } ?? ""
        return "analysis:    /analysis, \(rows) rows\(steps)\(version)\n  datasets   \(names)\n  options    \(a["options"] as? String ?? "")"
    }
}

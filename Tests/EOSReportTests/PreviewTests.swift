import XCTest
@testable import EOSReport

/// Writes the synthetic report to $EOSREPORT_PREVIEW when set (for looking at it); no-op otherwise.
final class PreviewTests: XCTestCase {
    func testWritePreviewWhenAsked() throws {
        guard let path = ProcessInfo.processInfo.environment["EOSREPORT_PREVIEW"] else { return }
        let html = try RunReport.html(syntheticInput())
        try html.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

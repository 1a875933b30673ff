import XCTest

final class EOSReportTestsPlaceholder: XCTestCase {}

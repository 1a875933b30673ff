import XCTest

final class EOSAnalysisTestsPlaceholder: XCTestCase {}

import XCTest

final class EOSNumericsTestsPlaceholder: XCTestCase {}

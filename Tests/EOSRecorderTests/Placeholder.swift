import XCTest

final class EOSRecorderTestsPlaceholder: XCTestCase {}

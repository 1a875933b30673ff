import XCTest

final class TrajectoryFormatTestsPlaceholder: XCTestCase {}

import XCTest

final class EOSModelsTestsPlaceholder: XCTestCase {}

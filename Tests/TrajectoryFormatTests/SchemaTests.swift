import Foundation
import XCTest
@testable import TrajectoryFormat

final class SchemaTests: XCTestCase {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `embeddedJSON` is generated at build time by the EmbedSchema plugin (Plugins/EmbedSchema):
    /// this checks the build output against the repository file.
    func testEmbeddedSchemaEqualsRepositoryFileByteForByte() throws {
        let url = Self.repositoryRoot.appendingPathComponent("schemas/trajectory-v1.json")
        let onDisk = try Data(contentsOf: url)
        XCTAssertEqual(Data(TrajectorySchema.embeddedJSON.utf8), onDisk,
                       "the EmbedSchema plugin's output differs from schemas/trajectory-v1.json")
    }

    func testSchemaParsesWithTheContractNames() throws {
        let s = TrajectorySchema.current
        XCTAssertEqual(s.format, "eostrace-trajectory")
        XCTAssertEqual(s.version, [1, 1])
        for name in ["step", "loss", "residual", "output_norm_sq", "sharpness", "eigenvalues", "eigenvectors", "dtf"] {
            XCTAssertEqual(s.dataset("/trajectory/\(name)")?.required, true, name)
        }
        XCTAssertEqual(s.dataset("/trajectory/eigenvectors")?.dims ?? [], ["step", "eig", "sample"])
        XCTAssertEqual(s.series(onCadence: "step").map(\.name).sorted(),
                       ["dtf", "eigensolver_iterations", "eigensolver_matvecs", "eigenvalue_count_above_threshold",
                        "eigenvalues", "eigenvalues_above_threshold", "eigenvectors", "grad_norm", "gram_residual", "loss",
                        "output_layer_sharpness", "output_norm_sq", "outputs", "r_prime", "r_prime_from_start", "residual",
                        "sharpness", "step", "step_seconds"])
        XCTAssertEqual(s.dataset("/run/status")?.values ?? [], RunStatus.allCases.map(\.rawValue))
    }
}

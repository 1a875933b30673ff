import XCTest
@testable import TrajectoryFormat

final class SHA256Tests: XCTestCase {
    func testKnownVectors() {
        // FIPS 180-4 examples and the empty message.
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Python: hashlib.sha256(b'a' * 1000).hexdigest()
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    func testFloat64LittleEndianDigestMatchesNumpy() {
        // Python: hashlib.sha256(np.array([...], dtype='<f8').tobytes()).hexdigest()
        let x: [Double] = [0.5, -1.25, 3.0, 1e-300, .infinity, 0x1p60]
        XCTAssertEqual(SHA256.hex(float64LittleEndian: x), "b798f8e567e102b2a17849473afe9660d2466b7c0267b08d545e85cf0a4628ef")
        if case .reference(_, let sha, let d) = TrainingInputs.reference(path: "x", values: x, d: 2) {
            XCTAssertEqual(sha, "b798f8e567e102b2a17849473afe9660d2466b7c0267b08d545e85cf0a4628ef")
            XCTAssertEqual(d, 2)
        } else {
            XCTFail()
        }
    }
}

import ArgumentParser
import EOSCommandLine
import Foundation

/// A JSON string literal (Foundation's encoder; slashes left as they are).
func jsonString(_ s: String) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    return (try? encoder.encode(s)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}

// EmbedSchemaTool INPUT.json OUTPUT.swift — used by the EmbedSchema build-tool plugin: writes a
// Swift file declaring `TrajectorySchema.embeddedJSON`, a one-line string literal holding the
// bytes of INPUT (UTF-8) exactly; every quote, backslash and control character is escaped.
import Foundation

let args = CommandLine.arguments
guard args.count == 3 else {
    FileHandle.standardError.write(Data("usage: EmbedSchemaTool INPUT.json OUTPUT.swift\n".utf8))
    exit(2)
}
let data: Data
do { data = try Data(contentsOf: URL(fileURLWithPath: args[1])) } catch {
    FileHandle.standardError.write(Data("EmbedSchemaTool: cannot read \(args[1]): \(error)\n".utf8))
    exit(1)
}
guard let text = String(data: data, encoding: .utf8) else {
    FileHandle.standardError.write(Data("EmbedSchemaTool: \(args[1]) is not UTF-8\n".utf8))
    exit(1)
}
var literal = ""
literal.reserveCapacity(text.utf8.count + text.utf8.count / 8)
for u in text.unicodeScalars {
    switch u {
    case "\\": literal += "\\\\"
    case "\"": literal += "\\\""
    case "\n": literal += "\\n"
    case "\r": literal += "\\r"
    case "\t": literal += "\\t"
    default:
        if u.value < 0x20 || u.value == 0x7F { literal += "\\u{\(String(u.value, radix: 16))}" } else { literal.unicodeScalars.append(u) }
    }
}
let out = """
    // Generated at build time by the EmbedSchema plugin (Plugins/EmbedSchema) from
    // schemas/trajectory-v1.json. Not checked in; TrajectoryFormatTests.SchemaTests checks it equals
    // the JSON file byte for byte.

    extension TrajectorySchema {
        /// The text of schemas/trajectory-v1.json.
        public static let embeddedJSON: String = "\(literal)"
    }

    """
do {
    let url = URL(fileURLWithPath: args[2])
    // Rewrite only on change, so that an unchanged schema does not recompile TrajectoryFormat.
    if (try? Data(contentsOf: url)) != Data(out.utf8) { try Data(out.utf8).write(to: url, options: .atomic) }
} catch {
    FileHandle.standardError.write(Data("EmbedSchemaTool: cannot write \(args[2]): \(error)\n".utf8))
    exit(1)
}

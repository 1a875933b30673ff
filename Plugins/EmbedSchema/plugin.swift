import Foundation
import PackagePlugin

/// Build-tool plugin of TrajectoryFormat: turns schemas/trajectory-v1.json (the single source of
/// the layout) into `EmbeddedSchema.swift` in the plugin's work directory at build time, with
/// `TrajectorySchema.embeddedJSON` holding the file's bytes. Nothing generated is checked in, and
/// the schema is compiled into the binary (no resource bundle to find at run time).
@main
struct EmbedSchema: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let input = context.package.directoryURL.appending(path: "schemas").appending(path: "trajectory-v1.json")
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedSchema.swift")
        return [
            .buildCommand(displayName: "Embedding schemas/trajectory-v1.json",
                          executable: try context.tool(named: "EmbedSchemaTool").url,
                          arguments: [input.path, output.path],
                          inputFiles: [input], outputFiles: [output]),
        ]
    }
}

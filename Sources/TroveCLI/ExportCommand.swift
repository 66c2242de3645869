import ArgumentParser
import Foundation
import TroveRepository
import TroveStorage

/// `trove export PROJECT VERSION DEST`
struct ExportCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a published version out as a byte-identical directory tree.")

    @OptionGroup var global: GlobalOptions
    @Argument var project: String
    @Argument var version: String
    @Argument(help: "Destination directory (must be empty or not exist).") var destination: String

    /// `--json` output: what was written and the store requests it took.
    struct Report: Encodable {
        var files: Int, directories: Int, symlinks: Int, bytes: Int
        var manifest: String
        var requests: RequestCounts
    }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: destination), !contents.isEmpty {
            throw CLIError.usage("destination \(destination) is not empty")
        }
        let start = ContinuousClock.now
        let m = try await ctx.repository.openVersion(project, version)
        let r = try await Exporter(repository: ctx.repository).export(m, to: destination)
        let secs = (ContinuousClock.now - start)
        if global.json {
            try Output.json(Report(files: r.files, directories: r.directories, symlinks: r.symlinks, bytes: r.bytes,
                                   manifest: m.digest.hex, requests: ctx.metered.snapshot))
        } else {
            Output.line("Exported \(project)/\(version) (\(m.digest.short)) to \(destination): \(Output.count(r.files)) files (\(Output.bytes(r.bytes))), \(r.directories) directories, \(r.symlinks) symlinks in \(secs.formatted(.units(allowed: [.seconds, .milliseconds])))")
            Output.line("  requests  \(Output.requests(ctx.metered.snapshot))")
        }
        return .ok
    }
}

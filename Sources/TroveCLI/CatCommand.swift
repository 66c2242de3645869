import ArgumentParser
import Foundation
import TroveManifest
import TroveRepository
import TroveStorage

/// `trove cat PROJECT VERSION PATH`
struct CatCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "cat", abstract: "Write one published file to standard output (verified).")

    @OptionGroup var global: GlobalOptions
    @Argument var project: String
    @Argument var version: String
    @Argument(help: "Path inside the version, e.g. html/index.html.") var path: String

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let m = try await ctx.repository.openVersion(project, version)
        let p = path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        // Symlinks are followed inside the version, as `trove serve` follows them.
        guard let f = try m.resolve(p), f.kind == .file else { throw RepositoryError.noSuchFile(project, version, p) }
        // Verified chunk by chunk; output is written only once a chunk has checked out.
        try await ChunkReader(repository: ctx.repository).stream(try m.chunks(of: f)) { chunk in
            let copy = chunk
            try await BlockingIO.run { FileHandle.standardOutput.write(Data(copy)) }
        }
        return .ok
    }
}

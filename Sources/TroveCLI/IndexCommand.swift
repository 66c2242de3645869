import ArgumentParser
import TroveGC
import TroveRepository

/// `trove index rebuild`
struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index", abstract: "Maintain the shared cross-project chunk index.",
        subcommands: [Rebuild.self])

    struct Rebuild: TroveSubcommand {
        static let configuration = CommandConfiguration(
            commandName: "rebuild", abstract: "Rebuild index/shared from every project's live builds, under the gc lock (gc also does this).")
        @OptionGroup var global: GlobalOptions

        func execute(_ ctx: StoreContext) async throws -> ExitStatus {
            let n = try await SharedIndexBuilder.rebuild(ctx.repository, toolVersion: "trove \(Trove.version)")
            if global.json { try Output.json(["sharedChunks": n]) } else { Output.line("Shared index: \(Output.count(n)) chunks used by more than one project") }
            return .ok
        }
    }
}

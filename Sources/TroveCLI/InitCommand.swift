import ArgumentParser
import TroveRepository

/// `trove init`: marks the store location as a Trove store.
struct InitCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Make the store location a Trove store (writes trove-store.json; publish does this too).",
        discussion: """
        Every command except publish and init refuses a location without trove-store.json, so a wrong or empty
        store setting never reads, or lets gc delete, files of some other directory. Run this once on a store
        created by a trove version that wrote no marker.
        """)
    static var createsStore: Bool { true }

    @OptionGroup var global: GlobalOptions

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let created = try await StoreMarker.create(in: ctx.repository.store)
        let name = ctx.repository.store.displayName
        struct Report: Encodable { var store: String; var created: Bool }
        if global.json { try Output.json(Report(store: name, created: created)) }
        else { Output.line(created ? "\(name) is now a Trove store" : "\(name) is already a Trove store") }
        return .ok
    }
}

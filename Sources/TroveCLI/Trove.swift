import ArgumentParser
import Foundation
import Logging
import TroveRepository

/// The `trove` command.
@main
struct Trove: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "trove",
        abstract: "A content-addressed, deduplicating store for documentation and build outputs.",
        discussion: """
        Exit codes: 0 success; 1 store or repository error (missing version, corrupt object) or a failed local
        operation (permission denied, listen address in use);
        3 partial publish (some media types failed and kept their previous content);
        64 bad command line or config; 65 bad input (nothing was switched); 69 store unreachable (or libcurl missing for S3).
        """,
        version: version,
        subcommands: [PublishCommand.self, LsCommand.self, CatCommand.self, ExportCommand.self,
                      StatsCommand.self, IndexCommand.self, ServeCommand.self, AliasCommand.self, SignURLCommand.self,
                      GCCommand.self, VerifyCommand.self, DeleteCommand.self, RollbackCommand.self, InitCommand.self, DiffCommand.self]
    )
}

/// Shared run wrapper: logging set-up, one-line errors, exit codes.
protocol TroveSubcommand: AsyncParsableCommand {
    var global: GlobalOptions { get }
    /// Whether the command makes its location a store itself (writes `trove-store.json` when it gets
    /// that far): `publish` and `init`. Every other command is refused at a local directory without the marker.
    static var createsStore: Bool { get }
    func execute(_ context: StoreContext) async throws -> ExitStatus
}

extension TroveSubcommand {
    static var createsStore: Bool { false }

    func run() async throws {
        let verbose = global.verbose
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = verbose ? .debug : .warning
            return h
        }
        try await runReportingErrors()
    }

    /// Opens the store, runs `execute`, and turns errors into one line on stderr and an exit code.
    func runReportingErrors() async throws {
        let status: ExitStatus
        do {
            let context = try StoreContext(global)
            if !Self.createsStore && context.needsMarker { try await StoreMarker.require(in: context.repository.store) }
            status = try await execute(context)
        } catch let e as ExitCode {
            throw e
        } catch {
            Output.error(ErrorReport.message(for: error))
            throw ExitCode(ErrorReport.status(for: error).rawValue)
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}

import ArgumentParser
import Foundation
import TroveRepository
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// `trove export PROJECT VERSION DEST`
struct ExportCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a published version out as a byte-identical directory tree.")

    @OptionGroup var global: GlobalOptions
    @Argument var project: String
    @Argument var version: String
    @Argument(help: "Destination directory (must be empty or not exist; nothing is left there if the export fails).") var destination: String

    /// `--json` output: what was written and the store requests it took.
    struct Report: Encodable {
        var files: Int, directories: Int, symlinks: Int, bytes: Int
        var manifest: String
        var requests: RequestCounts
    }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let target = try ExportTarget(destination)
        let start = ContinuousClock.now
        let m = try await ctx.repository.openVersion(project, version)
        let r = try await target.write { dir in try await Exporter(repository: ctx.repository).export(m, to: dir) }
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

/// Where an export goes, so that a failed export leaves nothing behind: a destination that does not
/// exist is written as a temporary sibling (`.NAME.trove-export-…`) and renamed into place once
/// complete; an existing empty directory (a mount point, say) is written in place and emptied again on
/// failure. A destination that is not a directory, or not empty, is refused before anything is read.
struct ExportTarget {
    let destination: String
    let existing: Bool

    init(_ destination: String) throws {
        self.destination = destination
        let shown = Output.safe(destination)
        guard !destination.isEmpty else { throw CLIError.usage("the export destination is empty") }
        var st = stat()
        if stat(destination, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw CLIError.usage("export destination \(shown) exists and is not a directory")
            }
            let contents: [String]
            do { contents = try FileManager.default.contentsOfDirectory(atPath: destination) } catch {
                throw CLIError.system("cannot read export destination \(shown): \(ErrorReport.fileSystemCause(error))")
            }
            guard contents.isEmpty else { throw CLIError.usage("export destination \(shown) is not empty") }
            existing = true
        } else if errno == ENOENT {
            existing = false
        } else {
            throw CLIError.system("cannot use export destination \(shown): \(String(cString: strerror(errno)))")
        }
    }

    /// Runs `body` on the directory to fill, then puts the result in place; on failure removes what
    /// `body` wrote and rethrows with the destination named.
    func write<T>(_ body: (String) async throws -> T) async throws -> T {
        let shown = Output.safe(destination)
        let dir: String
        if existing {
            dir = destination
        } else {
            let url = URL(fileURLWithPath: destination).standardizedFileURL
            let parent = url.deletingLastPathComponent().path
            do { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) } catch {
                throw CLIError.system("cannot create \(Output.safe(parent)) for the export: \(ErrorReport.fileSystemCause(error))")
            }
            dir = parent + "/." + url.lastPathComponent + ".trove-export-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            guard mkdir(dir, 0o777) == 0 else {
                throw CLIError.system("cannot create a directory in \(Output.safe(parent)) for the export: \(String(cString: strerror(errno)))")
            }
        }
        let result: T
        do {
            result = try await body(dir)
            if !existing, rename(dir, destination) != 0 {
                throw CLIError.system("cannot move the finished export to \(shown): \(String(cString: strerror(errno)))")
            }
        } catch {
            let cleaned = ExportTarget.removeContents(of: dir) && (existing || rmdir(dir) == 0)
            let note = cleaned ? (existing ? "; \(shown) was emptied again" : "; nothing was left at \(shown)")
                : "; a partial export was left at \(Output.safe(dir))"
            throw ReportedError(underlying: error, message: ErrorReport.message(for: error).replacingOccurrences(of: dir, with: destination) + note)
        }
        return result
    }

    /// Deletes everything inside `dir` (directories made writable first: an export sets their modes last).
    static func removeContents(of dir: String) -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return false }
        var ok = true
        for name in names {
            let p = dir + "/" + name
            var st = stat()
            guard lstat(p, &st) == 0 else { ok = false; continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                chmod(p, 0o700)
                ok = removeContents(of: p) && rmdir(p) == 0 && ok
            } else {
                ok = unlink(p) == 0 && ok
            }
        }
        return ok
    }
}

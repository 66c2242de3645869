import ArgumentParser
import Foundation
import TroveContent
import TrovePublish
import TroveRepository

/// `trove publish PROJECT VERSION DIR`
struct PublishCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish a build output tree as a new version (atomically switched).",
        discussion: """
        Top-level folders html/ pdf/ epub/ htmlzip/ json/ (the Read the Docs layout) publish independently:
        one that fails keeps its previous content and the exit code is 3. Any other tree publishes whole or
        not at all (exit 65 on bad input, nothing switched).
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Project name.") var project: String
    @Argument(help: "Version name (e.g. latest, v2.1).") var version: String
    @Argument(help: "The build output directory.") var directory: String

    @Option(help: "Worker threads (publish.jobs; default: all cores).") var jobs: String?
    @Option(help: "Pack object size, e.g. 4MiB (publish.pack_size).") var packSize: String?
    @Option(help: "Minimum/average/maximum chunk size, e.g. 2KiB/8KiB/64KiB.") var chunkSize: String?
    @Option(help: "Which element of a page is its main content, for `trove diff`: CSS selectors, first match by list order (publish.main_content_selectors; default \"[role=main], main, div.body, article\").")
    var mainContentSelectors: String?
    @Flag(help: "Do not train a compression dictionary for a project that has none.") var noDictionary = false
    @Flag(help: "Chunk zip archives (htmlzip, ePub) like any other file instead of at member boundaries.") var noZipAware = false
    @Option(help: "Build time to record (ISO 8601 or seconds since the epoch; default SOURCE_DATE_EPOCH or now).") var buildTime: String?

    static var createsStore: Bool { true }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let settings = ctx.settings
        var o = PublishOptions()
        o.toolVersion = "trove \(Trove.version)"
        if let j = try settings.integer("publish.jobs", flag: jobs) { o.threads = j }
        if let u = try settings.integer("publish.uploads") { o.uploads = u }
        if let v = try settings.integer("publish.index_versions") { o.indexVersions = v }
        if let n = try settings.size("publish.pack_size", flag: packSize) { o.packSize = n }
        if let s = chunkSize {
            let parts = s.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 3 else { throw CLIError.usage("--chunk-size takes MIN/AVG/MAX, e.g. 2KiB/8KiB/64KiB") }
            let kind = Settings.schema["publish.chunk_avg"]!.kind
            let sizes = try parts.map { p -> Int in
                guard case .integer(let n) = try Settings.check(String(p), kind, from: .flag("--chunk-size")) else { return 0 }
                return n
            }
            o.chunker = ChunkerParameters(minSize: sizes[0], avgSize: sizes[1], maxSize: sizes[2])
        } else {
            if let v = try settings.size("publish.chunk_min") { o.chunker.minSize = v }
            if let v = try settings.size("publish.chunk_avg") { o.chunker.avgSize = v }
            if let v = try settings.size("publish.chunk_max") { o.chunker.maxSize = v }
        }
        do { try o.chunker.validate() } catch { throw CLIError.usage(error.description) }
        o.zipAware = try !noZipAware && (settings.bool("publish.zip_aware") ?? true)
        o.mainContentDigests = try settings.bool("publish.main_content") ?? true
        if let v = try settings.value("publish.main_content_selectors", flag: mainContentSelectors), case .string(let list) = v {
            o.mainContentSelectors = try MainContentSelectors(list)
        }
        o.trainDictionary = try !noDictionary && (settings.bool("publish.dictionary") ?? true)
        if let t = buildTime ?? ctx.environment["SOURCE_DATE_EPOCH"] {
            if let secs = Double(t) { o.buildTime = Date(timeIntervalSince1970: secs) }
            else if let d = ISO8601DateFormatter().date(from: t) { o.buildTime = d }
            else { throw CLIError.usage("--build-time must be ISO 8601 or seconds since the epoch, got \(t)") }
        }

        let progress = PublishProgress()
        let line = ProgressLine(enabled: Output.stderrIsTerminal && !global.json) {
            let done = progress.filesDone.load(ordering: .relaxed), total = progress.filesTotal.load(ordering: .relaxed)
            return "publishing \(Output.count(done))/\(Output.count(total)) files, \(Output.bytes(progress.bytesDone.load(ordering: .relaxed))) read, \(Output.bytes(progress.newBytes.load(ordering: .relaxed))) new"
        }
        if ctx.needsMarker { try await StoreMarker.create(in: ctx.repository.store) }
        let report: PublishReport
        do {
            report = try await Publisher(repository: ctx.repository, options: o)
                .publish(project: project, version: version, from: directory, progress: progress)
        } catch let e as PathError {
            line.finish()
            throw CLIError.input(e.description)
        }
        line.finish()
        var r = report
        r.requests = ctx.metered.snapshot
        if global.json { try Output.json(r) } else { PublishSummary.print(r) }
        if !r.errors.isEmpty { return r.switched ? .partial : .badInput }
        return .ok
    }
}

/// The one-screen publish summary.
enum PublishSummary {
    static func print(_ r: PublishReport) {
        let name = "\(r.project)/\(r.version)"
        if r.unchanged {
            Output.line("\(name) unchanged: identical to the current build \(r.manifest.map { String($0.prefix(12)) } ?? ""); nothing stored")
        } else if r.switched {
            Output.line("Published \(name) → manifest \(r.manifest.map { String($0.prefix(12)) } ?? "")\(r.previousManifest.map { " (was \(String($0.prefix(12))))" } ?? " (new version)")")
        } else {
            Output.line("NOT published \(name): nothing was switched\(r.previousManifest.map { "; \(String($0.prefix(12))) is still live" } ?? "")")
        }
        if let other = r.replacedConcurrentPublish {
            Output.line("  note      a concurrent publish of \(name) (\(other.prefix(12))) landed while this one ran; this build replaced it (kept in history)")
        }
        if !r.repairedPacks.isEmpty {
            Output.line("  repaired  \(r.repairedPacks.count) pack(s) named by earlier builds were missing or damaged; their chunks were stored again")
        }
        Output.line("  files     \(Output.count(r.files)) (\(Output.bytes(r.logicalBytes))), \(Output.count(r.directories)) directories, \(Output.count(r.symlinks)) symlinks")
        Output.line("  chunks    \(Output.count(r.chunks)): \(Output.count(r.newChunks)) new (\(Output.bytes(r.newBytes)) → \(Output.bytes(r.newStoredBytes)) stored), \(Output.count(r.reusedChunks)) reused (\(Output.bytes(r.reusedBytes)))")
        if r.containerFiles > 0 { Output.line("  zips      \(Output.count(r.containerFiles)) archives (\(Output.bytes(r.containerBytes))) cut at members: \(Output.bytes(r.containerReusedBytes)) reused") }
        Output.line("  stored    \(Output.count(r.packs)) packs (\(Output.bytes(r.packBytes))), manifest \(Output.bytes(r.manifestBytes)); dedup index \(Output.count(r.indexedChunks)) chunks")
        if let d = r.dictionary { Output.line("  dict      \(d.prefix(12))\(r.dictionaryTrained ? " (trained on this build)" : "")") }
        if r.mediaTypes.count > 1 || r.mediaTypes.first?.name != "." {
            Output.line("  media     " + r.mediaTypes.map { "\($0.name) \($0.status.rawValue)" }.joined(separator: ", "))
        }
        Output.line("  requests  \(Output.requests(r.requests))")
        let rate = r.seconds > 0 ? Double(r.logicalBytes) / r.seconds : 0
        Output.line("  time      \(String(format: "%.2f", r.seconds)) s (\(Output.bytes(Int(rate)))/s)")
        if !r.errors.isEmpty {
            Output.line("  errors    \(r.errors.count):")
            for e in r.errors.prefix(20) { Output.line("    \(Output.safe(e.path)): \(Output.safe(e.reason))") }
            if r.errors.count > 20 { Output.line("    … and \(r.errors.count - 20) more (use --json for all)") }
        }
    }
}

import ArgumentParser
import Dispatch
import Foundation
import Logging
import Synchronization
import TroveGC
import TroveRepository
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// `trove gc [--dry-run] [--grace DURATION] [--every INTERVAL] [--json]`
struct GCCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Delete blobs no live build needs, compact mostly-dead packs, refresh the shared index.",
        discussion: """
        Live builds: every version's current build, the previous builds the retention policy keeps
        (gc.keep_builds, gc.keep_within), and aliases that pin a build. Nothing modified within the grace
        period (gc.grace, default 24h) is deleted; only one gc runs at a time (gc/lock). Safe to run while
        publishing: see docs/gc.md. With --every, runs as a daemon until SIGTERM/SIGINT.
        """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Report what would be reclaimed; change nothing.") var dryRun = false
    @Option(help: "Delete nothing modified more recently than this (e.g. 24h, 30m, 0s; default gc.grace or 24h).") var grace: String?
    @Option(help: "Builds kept per version, the current one included (default gc.keep_builds or 5).") var keepBuilds: String?
    @Option(help: "Also keep every build published within this duration (default gc.keep_within or 7d; 0s: none).") var keepWithin: String?
    @Option(help: "Compact packs whose live bytes are below this fraction (0 disables; default 0.5).") var compactBelow: Double?
    @Option(help: "Keys per delete call (default 1000; S3 takes up to 1000 per request, Azure 256: larger calls are split).") var batchSize: Int?
    @Option(help: "How long the sweep waits for publishes in progress before deferring (default 5m).") var leaseWait: String?
    @Option(help: "Run as a daemon: collect every INTERVAL (e.g. 6h) until SIGTERM/SIGINT.") var every: String?
    @Option(help: "Random extra delay added to each --every sleep (default a tenth of the interval).") var jitter: String?

    func options(_ ctx: StoreContext) throws -> GCOptions {
        let settings = ctx.settings
        var o = GCOptions()
        o.dryRun = dryRun
        o.toolVersion = "trove \(Trove.version)"
        if let g = try settings.duration("gc.grace", flag: grace) { o.grace = g }
        let keep = try settings.integer("gc.keep_builds", flag: keepBuilds) ?? 5
        let within = try settings.duration("gc.keep_within", flag: keepWithin) ?? .seconds(7 * 86400)
        o.retention = RetentionPolicy(keepBuilds: keep, keepWithin: within == .zero ? nil : within)
        if let c = compactBelow {
            guard (0...1).contains(c) else { throw CLIError.usage("--compact-below takes a fraction between 0 and 1") }
            o.compactBelow = c
        }
        if let b = batchSize {
            guard (1...1000).contains(b) else { throw CLIError.usage("--batch-size must be 1 to 1000") }
            o.deleteBatch = b
        }
        if let w = try Settings.flag(leaseWait, "--lease-wait", .duration(.zero...SettingValue.maxDuration))?.duration { o.leaseWait = w }
        if let s = try settings.size("publish.pack_size") { o.packSize = s }
        // Test hook: pause (forever) at a named step, so a test can SIGKILL gc mid-protocol.
        if let pause = ctx.environment["TROVE_GC_TEST_PAUSE"] {
            o.hooks.step = { step in
                guard step.description == pause else { return }
                FileHandle.standardError.write(Data("trove-gc-test: paused at \(step)\n".utf8))
                while true { sleep(3600) }
            }
        }
        return o
    }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let o = try options(ctx)
        guard let every else {
            let report = try await GarbageCollector(repository: ctx.repository, options: o).run()
            print(report, ctx)
            return .ok
        }
        guard let interval = try Settings.flag(every, "--every", .duration(.milliseconds(1)...SettingValue.maxDuration))?.duration else { return .ok }
        let spread = try Settings.flag(jitter, "--jitter", .duration(.zero...SettingValue.maxDuration))?.duration ?? interval / 10
        return try await daemon(ctx, options: o, interval: interval, jitter: spread)
    }

    /// Runs gc every `interval` (+ up to `jitter`) until SIGTERM or SIGINT. A signal during a run
    /// stops it at its next step (releasing the lock; nothing half-done, see docs/gc.md).
    func daemon(_ ctx: StoreContext, options o: GCOptions, interval: Duration, jitter: Duration) async throws -> ExitStatus {
        let logger = Logger(label: "trove.gc")
        let stop = Stopper()
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { stop.trigger() }
            s.resume()
            sources.append(s)
        }
        defer { sources.forEach { $0.cancel() } }
        Output.error("gc daemon: collecting \(ctx.repository.store.displayName) every \(interval) (+ up to \(jitter) jitter)")
        var failures = 0
        while !stop.isStopped {
            let run = Task { try await GarbageCollector(repository: ctx.repository, options: o, logger: logger).run() }
            stop.onStop { run.cancel() }
            do {
                print(try await run.value, ctx)
                failures = 0
            } catch is CancellationError {
                break
            } catch let e as GCError {
                if case .locked = e { Output.error("gc skipped: \(e)") } else { Output.error("gc failed: \(e)"); failures += 1 }
            } catch {
                Output.error("gc failed: \(error)")
                failures += 1
            }
            if stop.isStopped { break }
            let extra = Double.random(in: 0...max(0, Double(jitter.components.seconds) + Double(jitter.components.attoseconds) / 1e18))
            let pause = Task { try await Task.sleep(for: interval + .milliseconds(Int64(extra * 1000))) }
            stop.onStop { pause.cancel() }
            _ = await pause.result
        }
        Output.error("gc daemon: stopped")
        return failures > 0 ? .failure : .ok
    }

    func print(_ r: GCReport, _ ctx: StoreContext) {
        struct Out: Encodable { var report: GCReport; var requests: RequestCounts }
        if global.json {
            try? Output.json(Out(report: r, requests: ctx.metered.snapshot))
            return
        }
        func objs(_ o: GCReport.Objects) -> String {
            var s = "\(Output.count(o.live)) live (\(Output.bytes(o.liveBytes))), \(r.dryRun ? "would delete" : "deleted") \(Output.count(o.deleted)) (\(Output.bytes(o.deletedBytes)))"
            if o.young > 0 { s += ", \(Output.count(o.young)) unreachable within grace (\(Output.bytes(o.youngBytes)))" }
            if o.pending > 0 { s += ", \(Output.count(o.pending)) pending (\(Output.bytes(o.pendingBytes)))" }
            return s
        }
        Output.line("gc \(r.store)\(r.dryRun ? " (dry run: nothing changed)" : "")")
        Output.line("  builds        \(Output.count(r.liveBuilds)) live in \(r.versions) versions; \(r.buildsDropped) previous builds dropped by retention (keep \(r.retention.keepBuilds)\(r.retention.keepWithinSeconds.map { ", or younger than \(Int($0))s" } ?? ""))")
        Output.line("  manifests     \(objs(r.manifests))")
        Output.line("  packs         \(objs(r.packs)); \(Output.count(r.chunksReclaimed)) chunks reclaimed")
        Output.line("  dictionaries  \(objs(r.dictionaries))")
        Output.line("  chunks        \(Output.count(r.liveChunks)) live (\(Output.bytes(r.liveChunkBytes))); \(Output.count(r.deadChunksInLivePacks)) dead in live packs (\(Output.bytes(r.deadBytesInLivePacks)))")
        let c = r.compaction
        if c.packs > 0 || !c.skipped.isEmpty {
            Output.line("  compaction    \(c.packs) packs (\(Output.bytes(c.packBytes))) → \(c.newPacks) new (\(Output.bytes(c.newPackBytes))); \(Output.count(c.chunksCopied)) chunks copied, \(Output.bytes(c.deadBytes)) dead; \(c.manifestsRewritten) manifests rewritten, \(c.refsSwitched) refs switched; replaced \(c.oldPacksDeleted) packs and \(c.oldManifestsDeleted) manifests \(r.dryRun ? "would be deleted" : "deleted") in this run")
            for s in c.skipped { Output.line("                skipped \(s)") }
        }
        if let n = r.sharedIndexChunks { Output.line("  shared index  \(Output.count(n)) chunks\(r.sharedIndexRebuilt ? " (rebuilt)" : " (unchanged)")") }
        if let note = r.sweepNote { Output.line("  sweep         \(note)") }
        Output.line("  total         \(r.dryRun ? "would reclaim" : "reclaimed") \(Output.bytes(r.reclaimedBytes)), kept \(Output.bytes(r.keptBytes)) in \(String(format: "%.2f", r.seconds)) s")
        Output.line("  requests      \(Output.requests(ctx.metered.snapshot))")
    }
}

/// Signal → cancellation, for the daemon.
final class Stopper: Sendable {
    private let state = Mutex<(stopped: Bool, actions: [@Sendable () -> Void])>((false, []))
    var isStopped: Bool { state.withLock { $0.stopped } }
    func trigger() {
        let actions = state.withLock { s -> [@Sendable () -> Void] in
            s.stopped = true
            defer { s.actions.removeAll() }
            return s.actions
        }
        actions.forEach { $0() }
    }
    func onStop(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { s -> Bool in
            if s.stopped { return true }
            s.actions.append(action)
            return false
        }
        if now { action() }
    }
}

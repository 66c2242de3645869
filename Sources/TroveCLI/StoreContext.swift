import Foundation
import Logging
import TroveAzure
import TroveRepository
import TroveS3
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// The opened store for one command: settings layered over defaults, the backend wrapped in the
/// standard decorators (retries outside, request metering, concurrency limit inside), the repository.
struct StoreContext {
    let settings: Settings
    let metered: MeteredBlobStore
    let repository: Repository
    /// A local directory: it is a store only once it carries `trove-store.json` (written by `publish`
    /// or `init`), so an empty or mistyped location can never make gc delete some other directory's
    /// digest-named files. Buckets and containers are named explicitly, so object stores need no
    /// marker, and a publish to one spends no request on it.
    let needsMarker: Bool

    var environment: [String: String] { settings.environment }

    /// Scheme openers beyond `file` and `memory`; feature modules add theirs here.
    static let registry: StoreRegistry = {
        var r = StoreRegistry()
        S3BlobStore.register(in: &r)
        AzureBlobStore.register(in: &r)
        return r
    }()

    init(_ options: GlobalOptions) throws {
        let environment = ProcessInfo.processInfo.environment
        settings = try Settings(explicitPath: options.config, environment: environment)
        let home = environment["HOME"] ?? NSHomeDirectory()
        let (location, source) = settings.lookup("store", flag: options.store)
            ?? ("file://" + (environment["XDG_DATA_HOME"] ?? home + "/.local/share") + "/trove/store", .fallback("the default store"))
        var backend: [String: String] = [:]
        for key in Settings.schema.keys where Settings.backendSections.contains(where: { key.hasPrefix($0 + ".") }) {
            if let v = settings.string(key) { backend[key] = v }
        }
        let base: any BlobStore
        do { base = try StoreContext.registry.open(location, settings: StoreSettings(backend)) }
        catch let e as StoreURLError { throw CLIError.usage("store (\(source)): \(Output.safe(e.description))") }
        needsMarker = base is LocalBlobStore
        var policy = RetryPolicy.default
        if let n = try settings.integer("retry.max_attempts") { policy.maxAttempts = n }
        if let t = try settings.duration("retry.timeout") { policy.totalTimeout = t }
        metered = MeteredBlobStore(LimitedBlobStore(base, maxConcurrent: 32))
        let store = RetryingBlobStore(metered, policy: policy, logger: Logger(label: "trove.store"))
        let (cache, cacheSource) = settings.lookup("cache_dir", flag: options.cacheDir)
            ?? ((environment["XDG_CACHE_HOME"] ?? home + "/.cache") + "/trove", .fallback("the default cache directory"))
        try StoreContext.checkCacheDirectory(cache, source: cacheSource)
        repository = Repository(store: store, cacheDirectory: URL(fileURLWithPath: cache))
    }

    /// The cache directory must be a directory this process can write (created if missing); else
    /// exit 64 naming the setting, rather than a raw file-system error from deep inside a command.
    static func checkCacheDirectory(_ path: String, source: Settings.Source) throws {
        func fail(_ why: String) -> CLIError { CLIError.config("cache directory \(Output.safe(path)) (\(source)): \(why)") }
        guard !path.trimmingCharacters(in: .whitespaces).isEmpty else { throw fail("empty") }
        var st = stat()
        if stat(path, &st) != 0 {
            guard errno == ENOENT else { throw fail(String(cString: strerror(errno))) }
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw fail("cannot create it: \(ErrorReport.fileSystemCause(error))")
            }
            guard stat(path, &st) == 0 else { throw fail(String(cString: strerror(errno))) }
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw fail("not a directory") }
        guard access(path, W_OK | X_OK) == 0 else { throw fail("not writable: \(String(cString: strerror(errno)))") }
    }

    /// A setting's raw value (flag given by the caller, variable or file).
    func setting(_ key: String) -> String? { settings.string(key) }
}

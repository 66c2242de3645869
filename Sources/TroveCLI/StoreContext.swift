import Foundation
import Logging
import TroveAzure
import TroveRepository
import TroveS3
import TroveStorage

/// The opened store for one command: config layered over defaults, the backend wrapped in the
/// standard decorators (retries outside, request metering, concurrency limit inside), the repository.
struct StoreContext {
    let config: TroveConfig
    let environment: [String: String]
    let metered: MeteredBlobStore
    let repository: Repository

    /// Scheme openers beyond `file` and `memory`; feature modules add theirs here.
    static let registry: StoreRegistry = {
        var r = StoreRegistry()
        S3BlobStore.register(in: &r)
        AzureBlobStore.register(in: &r)
        return r
    }()

    init(_ options: GlobalOptions) throws {
        environment = ProcessInfo.processInfo.environment
        config = try TroveConfig.load(explicitPath: options.config, environment: environment)
        let home = environment["HOME"] ?? NSHomeDirectory()
        let location = options.store ?? config.value("store", environment: environment)
            ?? "file://" + (environment["XDG_DATA_HOME"] ?? home + "/.local/share") + "/trove/store"
        var settings: [String: String] = [:]
        for key in TroveConfig.schema.keys where TroveConfig.backendSections.contains(where: { key.hasPrefix($0 + ".") }) {
            if let v = config.value(key, environment: environment) { settings[key] = v }
        }
        let base: any BlobStore
        do { base = try StoreContext.registry.open(location, settings: StoreSettings(settings)) }
        catch let e as StoreURLError { throw CLIError.usage("store: \(e.description)") }
        var policy = RetryPolicy.default
        if let n = config.value("retry.max_attempts", environment: environment).flatMap(Int.init) { policy.maxAttempts = max(1, n) }
        if let t = config.value("retry.timeout", environment: environment).flatMap(DurationParser.parse) { policy.totalTimeout = t }
        metered = MeteredBlobStore(LimitedBlobStore(base, maxConcurrent: 32))
        let store = RetryingBlobStore(metered, policy: policy, logger: Logger(label: "trove.store"))
        let cache = options.cacheDir ?? config.value("cache_dir", environment: environment)
            ?? (environment["XDG_CACHE_HOME"] ?? home + "/.cache") + "/trove"
        repository = Repository(store: store, cacheDirectory: URL(fileURLWithPath: cache))
    }

    func setting(_ key: String) -> String? { config.value(key, environment: environment) }
}

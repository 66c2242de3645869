import Synchronization
import TroveContent
import TroveManifest
import TroveRepository

/// Opens manifests for serve: one load per manifest however many requests ask at once (they all wait
/// for the same load), and a failed load is remembered for `failureTTL`, so requests into a version
/// whose manifest is missing, oversized or malformed get their 502 without each repeating the work
/// (a download and a decompression of up to `ManifestLimits.maxManifestBytes`). Opened manifests are
/// kept by `Repository`.
final class ManifestLoader: Sendable {
    let repository: Repository
    let failureTTL: Duration

    private enum Slot {
        case loading(Task<Manifest, any Error>)
        case failed(any Error, until: ContinuousClock.Instant)
    }
    private let slots = Mutex<[Digest: Slot]>([:])

    init(repository: Repository, failureTTL: Duration = .seconds(5)) {
        self.repository = repository
        self.failureTTL = failureTTL
    }

    func manifest(_ digest: Digest) async throws -> Manifest {
        let now = ContinuousClock.now
        let task: Task<Manifest, any Error> = try slots.withLock { s in
            switch s[digest] {
            case .loading(let t)?:
                return t
            case .failed(let e, let until)? where now < until:
                throw e
            default:
                let t = Task { [repository, failureTTL] () throws -> Manifest in
                    do {
                        let m = try await repository.manifest(digest)
                        _ = self.slots.withLock { $0.removeValue(forKey: digest) }
                        return m
                    } catch {
                        self.slots.withLock { $0[digest] = .failed(error, until: ContinuousClock.now + failureTTL) }
                        throw error
                    }
                }
                if s.count >= 4096 { s = s.filter { if case .loading = $0.value { true } else { false } } }
                s[digest] = .loading(t)
                return t
            }
        }
        return try await task.value
    }
}

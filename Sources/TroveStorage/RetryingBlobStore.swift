import Foundation
import Logging

/// How `RetryingBlobStore` retries: exponential backoff with full jitter, capped in attempts and time.
public struct RetryPolicy: Sendable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Give up once this much time has passed since the first attempt.
    public var totalTimeout: Duration

    public init(maxAttempts: Int = 8, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(5),
                totalTimeout: Duration = .seconds(120)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.totalTimeout = totalTimeout
    }

    public static let `default` = RetryPolicy()

    /// Full jitter (AWS architecture blog): a uniform delay in [0, min(cap, base·2^attempt)).
    func delay(afterAttempt attempt: Int) -> Duration {
        let capped = min(maxDelay, baseDelay * (1 << min(attempt, 20)))
        let ms = Double(capped.components.seconds) * 1000 + Double(capped.components.attoseconds) / 1e15
        return .milliseconds(Int64(Double.random(in: 0..<max(ms, 1))))
    }
}

/// Retries transient failures of any backend (5xx, throttling, resets, timeouts) and nothing else.
///
/// A retried conditional put can report `preconditionFailed` although an earlier attempt succeeded;
/// content-addressed writes are unconditional, and ref writers re-read the ref to decide (see
/// `RefStore`), so this decorator passes that error through unchanged.
public struct RetryingBlobStore: BlobStore {
    public let base: any BlobStore
    public let policy: RetryPolicy
    let logger: Logger

    public init(_ base: any BlobStore, policy: RetryPolicy = .default, logger: Logger = Logger(label: "trove.retry")) {
        self.base = base
        self.policy = policy
        self.logger = logger
    }

    public var displayName: String { base.displayName }

    func retrying<T: Sendable>(_ what: @autoclosure () -> String, _ op: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let start = clock.now
        var attempt = 0
        while true {
            do {
                return try await op()
            } catch let error as BlobStoreError where error.isRetryable {
                attempt += 1
                let elapsed = clock.now - start
                if attempt >= policy.maxAttempts || elapsed >= policy.totalTimeout {
                    throw BlobStoreError.transient("\(error) (gave up on \(what()) after \(attempt) attempts in \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds]))))")
                }
                let wait = min(policy.delay(afterAttempt: attempt), policy.totalTimeout - elapsed)
                logger.debug("retrying", metadata: ["op": "\(what())", "attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: wait)
            }
        }
    }

    public func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        try await retrying("put \(key)") { try await base.put(key, bytes, condition: condition) }
    }

    public func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob {
        try await retrying("get \(key)") { try await base.read(key, range: range) }
    }

    public func head(_ key: ObjectKey) async throws -> ObjectInfo? {
        try await retrying("head \(key)") { try await base.head(key) }
    }

    public func list(prefix: String, continuation: String?) async throws -> ListPage {
        try await retrying("list \(prefix)") { try await base.list(prefix: prefix, continuation: continuation) }
    }

    public func delete(_ keys: [ObjectKey]) async throws {
        try await retrying("delete \(keys.count) objects") { try await base.delete(keys) }
    }
}

import BlobStoreConformance
import Foundation
import Synchronization
import S3TestServer
import Testing
import TroveHTTP
import TroveS3
import TroveStorage
import TroveTesting

/// S3BlobStore against moto with every request's signature verified (see Tests/s3server/moto_launcher.py).
@Suite(.serialized) struct S3BlobStoreTests {
    @Test func conformanceOnMoto() async throws {
        let moto = try await Moto.shared()
        try await BlobStoreConformance.run(try Moto.store(moto))
    }

    @Test func conformanceThroughFaultProxyWithRetries() async throws {
        let proxy = try await FaultProxy.start(failRate: 0.25, faults: "500,503,reset-before,reset-mid,apply-then-500")
        defer { proxy.stop() }
        let moto = try await Moto.shared()
        let store = RetryingBlobStore(try Moto.store(moto, endpoint: proxy.endpoint),
                                      policy: RetryPolicy(maxAttempts: 25, baseDelay: .milliseconds(5), maxDelay: .milliseconds(100), totalTimeout: .seconds(60)))
        try await BlobStoreConformance.run(store)
        let stats = try await FaultProxy.stats(proxy)
        let requests = stats["requests"] ?? 0, faults = stats["faults"] ?? 0
        #expect(requests > 1400)
        #expect(Double(faults) > Double(requests) * 0.2 && Double(faults) < Double(requests) * 0.3, "\(stats)")
        for kind in ["500", "503", "reset-before", "reset-mid", "apply-then-500"] { #expect((stats[kind] ?? 0) > 0, "no \(kind) fault injected: \(stats)") }
    }

    @Test func stalledTransfersAreTransient() async throws {
        // The proxy stalls far longer than the 1 s stall timeout and then closes the connection; only
        // stall detection reports "timed out" (a close reads as an empty reply or a short body), so the
        // message proves detection without a bound on how long a loaded machine took.
        let proxy = try await FaultProxy.start(failRate: 1.0, faults: "stall,stall-mid", stallSeconds: 30)
        defer { proxy.stop() }
        let moto = try await Moto.shared()
        let direct = try Moto.store(moto)
        try await direct.put("s/one", [UInt8](repeating: 9, count: 200_000))
        let viaProxy = try Moto.store(moto, endpoint: proxy.endpoint, prefix: direct.configuration.prefix, options: "&stall_timeout=1")
        for _ in 0..<2 {
            do {
                _ = try await viaProxy.get("s/one")
                Issue.record("a stalled get succeeded")
            } catch BlobStoreError.transient(let m) {
                #expect(m.contains("timed out"), "\(m)")
            }
        }
    }

    @Test func wrongSecretIsExplained() async throws {
        let moto = try await Moto.shared()
        let store = try Moto.store(moto, settings: ["s3.secret_access_key": "not-the-secret-at-all"])
        let error = try await failure { _ = try await store.get("any/key") }
        #expect(error.contains("wrong secret access key"), "\(error)")
        #expect(error.contains(Moto.bucket) && error.contains(moto.endpoint), "\(error)")
        #expect(!error.contains("not-the-secret-at-all") && !error.contains(Moto.secret(moto)))
        // HEAD responses have no error document; the store probes to give the same explanation.
        let headError = try await failure { _ = try await store.head("any/key") }
        #expect(headError.contains("wrong secret access key"), "\(headError)")
    }

    @Test func unknownAccessKeyIsExplained() async throws {
        let moto = try await Moto.shared()
        let store = try Moto.store(moto, settings: ["s3.access_key_id": "AKIANOSUCHKEY0000000"])
        let error = try await failure { try await store.put("k", [1]) }
        #expect(error.contains("does not know access key id AKIANOSUCHKEY0000000"), "\(error)")
        #expect(!error.contains(Moto.secret(moto)))
    }

    @Test func missingBucketIsExplained() async throws {
        let moto = try await Moto.shared()
        let store = try Moto.store(moto, bucket: "no-such-bucket-here")
        let error = try await failure { _ = try await store.list(prefix: "", continuation: nil) }
        #expect(error == "bucket no-such-bucket-here does not exist at \(moto.endpoint) (NoSuchBucket)")
        #expect(!error.contains(Moto.secret(moto)))
    }

    @Test func deadEndpointIsTransientAndReadsClearly() async throws {
        let moto = try await Moto.shared()
        let base = try Moto.store(moto, endpoint: "http://127.0.0.1:1")
        do {
            _ = try await base.get("k")
            Issue.record("get from a dead endpoint succeeded")
        } catch let e as BlobStoreError {
            #expect(e.isRetryable)
            #expect(e.description == "cannot connect to http://127.0.0.1:1: connection refused")
        }
        let retrying = RetryingBlobStore(base, policy: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20), totalTimeout: .seconds(5)))
        let error = try await failure { _ = try await retrying.get("k") }
        #expect(error.hasPrefix("cannot connect to http://127.0.0.1:1: connection refused (gave up on get k after 3 attempts"), "\(error)")
        #expect(!error.contains(Moto.secret(moto)))
    }

    @Test func persistentFailureGivesUpWithinTheCap() async throws {
        let proxy = try await FaultProxy.start(failRate: 1.0, faults: "503,500,reset-before")
        defer { proxy.stop() }
        let moto = try await Moto.shared()
        let times = Mutex<[ContinuousClock.Instant]>([])
        let attempts = HookedStore(try Moto.store(moto, endpoint: proxy.endpoint), put: { _, write in
            times.withLock { $0.append(ContinuousClock.now) }
            return try await write()
        })
        let store = RetryingBlobStore(attempts,
                                      policy: RetryPolicy(maxAttempts: 1000, baseDelay: .milliseconds(20), maxDelay: .milliseconds(200), totalTimeout: .seconds(2)))
        let error = try await failure { try await store.put("p", [1, 2, 3]) }
        #expect(error.contains("gave up on put p"), "\(error)")
        // Given up because of the time cap, not the attempt cap; not before the cap (from the first
        // attempt, which starts after the retrier's own clock), and no attempt started after the cap
        // but the one the last wait was cut short for. No bound on how slow a loaded machine may be.
        let started = times.withLock { $0 }
        #expect(started.count > 1 && started.count < 1000 && !error.contains("after 1000 attempts"), "\(started.count) attempts")
        #expect(ContinuousClock.now - started[0] >= .seconds(2))
        #expect(started.filter { $0 - started[0] >= .seconds(2) }.count <= 1)
    }

    @Test func corruptUploadIsRejectedByChecksum() async throws {
        let moto = try await Moto.shared()
        let store = try Moto.store(moto)
        // Sign a PUT whose Content-MD5 belongs to other bytes, as if the body changed in transit.
        let c = store.configuration
        let signer = SigV4Signer(credentials: c.credentials, region: c.region)
        let body: [UInt8] = Array("the real body".utf8)
        let host = "\(c.endpoint.host!):\(c.endpoint.port!)"
        let signed = signer.sign(method: "PUT", path: "/\(c.bucket)/\(c.prefix)/corrupt", query: [],
                                 headers: [("host", host), ("content-type", "application/octet-stream"),
                                           ("content-md5", CloudCrypto.contentMD5(Array("other bytes".utf8)))],
                                 payloadHash: "UNSIGNED-PAYLOAD")
        let r = try await store.client.send("PUT", "\(c.endpoint.absoluteString)\(signed.requestTarget)", headers: signed.headers, body: body)
        #expect(r.status == 400)
        #expect(S3ErrorBody(xml: r.body)?.code == "BadDigest")
        #expect(try await store.head("corrupt") == nil)
        let mapped = S3ErrorMapping.map(status: r.status, body: r.body, operation: "put", key: "corrupt", configuration: c)
        #expect(mapped.isRetryable)
    }

    @Test func registryOpensS3URLs() async throws {
        let moto = try await Moto.shared()
        var registry = StoreRegistry()
        S3BlobStore.register(in: &registry, environment: [:])
        #expect(registry.schemes.contains("s3"))
        let store = try registry.open("s3://\(Moto.bucket)/registry?endpoint=\(moto.endpoint)&path_style=true", settings: Moto.settings(moto))
        #expect(store.displayName == "s3://\(Moto.bucket)/registry at \(moto.endpoint)")
        let tag = try await store.put("x", [1, 2, 3])
        #expect(try await store.head("x")?.etag == tag)
        try await store.delete(["x"])
    }

    @Test func manyConcurrentRequestsReuseConnections() async throws {
        let moto = try await Moto.shared()
        let store = try Moto.store(moto, options: "&max_connections=8")
        let before = try await Moto.stats(moto)
        try await withThrowingTaskGroup(of: Void.self) { g in
            for i in 0..<200 { g.addTask { try await store.put(try ObjectKey("c/\(i)"), Array(String(i).utf8)) } }
            try await g.waitForAll()
        }
        let all = try await store.listAll(prefix: "c/")
        #expect(all.count == 200)
        let sums = try await withThrowingTaskGroup(of: Int.self) { g in
            for i in 0..<200 { g.addTask { try await store.get(try ObjectKey("c/\(i)")).count } }
            return try await g.reduce(0, +)
        }
        #expect(sums == (0..<200).reduce(0) { $0 + String($1).utf8.count })
        try await store.delete(all.map(\.key))
        let after = try await Moto.stats(moto)
        let requests = after["requests", default: 0] - before["requests", default: 0]
        let connections = after["connections", default: 0] - before["connections", default: 0]
        // 400+ requests of this test (others may run alongside); kept-alive connections carry them.
        #expect(requests >= 400 && connections < requests / 4, "\(connections) connections for \(requests) requests")
    }

    /// The description of the error `body` throws.
    func failure(_ body: () async throws -> Void) async throws -> String {
        do {
            try await body()
        } catch let e as BlobStoreError {
            return e.description
        }
        Issue.record("expected an error")
        return ""
    }
}

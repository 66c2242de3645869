import AzureTestServer
import BlobStoreConformance
import Foundation
import Testing
import TroveAzure
import TroveHTTP
import TroveStorage

/// AzureBlobStore against the Azure test server, which checks every Shared Key signature and SAS with
/// the signing code of Microsoft's azure-storage-blob (Tests/azureserver/azure_server.py).
@Suite(.serialized) struct AzureBlobStoreTests {
    @Test func conformanceWithSharedKey() async throws {
        let server = try await AzureServer.shared()
        let before = try await AzureServer.stats(server)
        try await BlobStoreConformance.run(try AzureServer.store(server))
        let after = try await AzureServer.stats(server)
        // Deletes went through Blob Batch (1205 keys: 5 batches of ≤256), never one request per blob
        // (counters of the server shared with suites running in parallel: only lower bounds hold).
        #expect((after["BlobBatch"] ?? 0) - (before["BlobBatch"] ?? 0) >= 5)
        #expect(after["DeleteBlob"] ?? 0 == before["DeleteBlob"] ?? 0)
    }

    @Test func conformanceWithSAS() async throws {
        let server = try await AzureServer.shared()
        let sas = try await AzureServer.sas(server, permissions: "racwdl")
        // Every request carries only the SAS, which the server verifies with the SDK's code.
        try await BlobStoreConformance.run(try AzureServer.sasStore(server, sas: sas))
    }

    @Test func conformanceThroughFaultProxyWithRetries() async throws {
        let proxy = try await AzureServer.faultProxy(failRate: 0.25, faults: "500,503,reset-before,reset-mid,apply-then-500")
        defer { proxy.stop() }
        let server = try await AzureServer.shared()
        let store = RetryingBlobStore(try AzureServer.store(server, endpoint: AzureServer.endpoint(through: proxy)),
                                      policy: RetryPolicy(maxAttempts: 25, baseDelay: .milliseconds(5), maxDelay: .milliseconds(100), totalTimeout: .seconds(60)))
        try await BlobStoreConformance.run(store)
        let stats = try await FaultProxy.stats(proxy)
        let requests = stats["requests"] ?? 0, faults = stats["faults"] ?? 0
        #expect(requests > 1400 && Double(faults) > Double(requests) * 0.2, "\(stats)")
        for kind in ["500", "503", "reset-before", "reset-mid", "apply-then-500"] { #expect((stats[kind] ?? 0) > 0, "no \(kind) fault injected: \(stats)") }
    }

    @Test func serverBusyIsTransientAndNamed() async throws {
        let proxy = try await AzureServer.faultProxy(failRate: 1.0, faults: "503")
        defer { proxy.stop() }
        let server = try await AzureServer.shared()
        let store = try AzureServer.store(server, endpoint: AzureServer.endpoint(through: proxy))
        do {
            _ = try await store.get("k")
            Issue.record("a 503 read succeeded")
        } catch BlobStoreError.transient(let m) {
            #expect(m.contains("(ServerBusy: The server is busy.)"), "\(m)")
        }
    }

    @Test func wrongKeyIsExplainedWithoutTheKey() async throws {
        let server = try await AzureServer.shared()
        let wrong = Data((0..<64).map { UInt8($0) }).base64EncodedString()
        let store = try AzureServer.store(server, settings: ["azure.account_key": wrong])
        for op in ["get", "head", "put", "list", "delete"] {
            let error = try await failure {
                switch op {
                case "get": _ = try await store.get("any/key")
                case "head": _ = try await store.head("any/key")
                case "put": try await store.put("any/key", [1])
                case "list": _ = try await store.list(prefix: "", continuation: nil)
                default: try await store.delete(["any/key"])
                }
            }
            #expect(error == "Azure at \(server.endpoint) rejected the request signature for account \(AzureServer.account): wrong account key (AuthenticationFailed); check AZURE_STORAGE_KEY, the connection string or azure.account_key", "\(op): \(error)")
            #expect(!error.contains(wrong) && !error.contains(AzureServer.key(server)))
        }
    }

    @Test func sasPermissionsAndExpiry() async throws {
        let server = try await AzureServer.shared()
        let writer = try AzureServer.store(server)
        try await writer.put("r/one", [1, 2, 3])
        let readOnly = try AzureServer.sasStore(server, sas: try await AzureServer.sas(server, permissions: "rl"), prefix: writer.configuration.prefix)
        #expect(try await readOnly.get("r/one") == [1, 2, 3])
        #expect(try await readOnly.listAll(prefix: "r/").map(\.key) == ["r/one"])
        let put = try await failure { try await readOnly.put("r/two", [1]) }
        #expect(put.hasPrefix("access denied: put r/two in azure://trove-test/") && put.contains("(AuthorizationPermissionMismatch): the SAS token lacks a permission"), "\(put)")
        let delete = try await failure { try await readOnly.delete(["r/one"]) }
        #expect(delete.contains("access denied: delete r/one") && delete.contains("AuthorizationPermissionMismatch"), "\(delete)")
        #expect(try await writer.head("r/one") != nil)

        let expiredToken = try await AzureServer.sas(server, permissions: "racwdl", expiresIn: -60)
        let expired = try AzureServer.sasStore(server, sas: expiredToken, prefix: writer.configuration.prefix)
        let e = try await failure { _ = try await expired.get("r/one") }
        #expect(e.contains("the SAS token for azure://trove-test at \(server.endpoint) has expired or is not valid yet"), "\(e)")
        #expect(!e.contains("sig="))
        // A SAS for another container does not verify here.
        let other = try AzureServer.sasStore(server, sas: try await AzureServer.sas(server, permissions: "racwdl", container: "other-container"))
        let o = try await failure { _ = try await other.get("r/one") }
        #expect(o.contains("rejected the SAS token for account \(AzureServer.account)"), "\(o)")
    }

    @Test func missingContainerAndDeadEndpoint() async throws {
        let server = try await AzureServer.shared()
        let missing = try AzureServer.store(server, container: "no-such-container")
        let error = try await failure { _ = try await missing.list(prefix: "", continuation: nil) }
        #expect(error == "container no-such-container does not exist in account \(AzureServer.account) at \(server.endpoint) (ContainerNotFound)")
        let headError = try await failure { _ = try await missing.head("k") }
        #expect(headError.contains("(ContainerNotFound)"), "\(headError)")

        let dead = RetryingBlobStore(try AzureServer.store(server, endpoint: "http://127.0.0.1:1/\(AzureServer.account)"),
                                     policy: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(5), totalTimeout: .seconds(5)))
        do {
            _ = try await dead.get("k")
            Issue.record("connected to port 1")
        } catch BlobStoreError.transient(let m) {
            #expect(m.hasPrefix("cannot connect to http://127.0.0.1:1: connection refused (gave up on get k after 3 attempts"), "\(m)")
        }
    }

    @Test func stalledTransfersAreTransient() async throws {
        let proxy = try await AzureServer.faultProxy(failRate: 1.0, faults: "stall,stall-mid", stallSeconds: 4)
        defer { proxy.stop() }
        let server = try await AzureServer.shared()
        let direct = try AzureServer.store(server)
        try await direct.put("s/one", [UInt8](repeating: 9, count: 200_000))
        let viaProxy = try AzureServer.store(server, endpoint: AzureServer.endpoint(through: proxy), prefix: direct.configuration.prefix,
                                             options: "&stall_timeout=1")
        for _ in 0..<2 {
            do {
                _ = try await viaProxy.get("s/one")
                Issue.record("a stalled get succeeded")
            } catch BlobStoreError.transient(let m) {
                #expect(m.contains("timed out"), "\(m)")
            }
        }
    }

    /// An error's one-line description.
    func failure(_ body: () async throws -> Void) async throws -> String {
        do { try await body() } catch { return "\(error)" }
        Issue.record("no error")
        return ""
    }
}

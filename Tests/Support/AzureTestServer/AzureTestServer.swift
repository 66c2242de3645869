@_exported import CloudTestSupport
import Foundation
import TroveAzure
import TroveHTTP
import TroveStorage

/// The Azure Blob test server (Tests/azureserver/azure_server.py) shared by every test in this process:
/// path-style endpoint `http://127.0.0.1:PORT/ACCOUNT`, every Shared Key signature and SAS checked with
/// the signing code of Microsoft's azure-storage-blob package.
public enum AzureServer {
    public static let account = "troveaccount"
    public static let container = "trove-test"
    private static let server = Task<PythonService, any Error> {
        try await PythonService.start("azureserver/azure_server.py", ["--port", "0", "--account", account, "--container", container])
    }

    public static func shared() async throws -> PythonService { try await server.value }

    /// The account key (base64), as a user would put it in AZURE_STORAGE_KEY.
    public static func key(_ s: PythonService) -> String { s.info["key"] as! String }

    /// A SAS token for `container` with permissions `permissions` (e.g. "racwdl"), expiring in
    /// `expiresIn` seconds (negative: already expired), made by the SDK's generate_container_sas.
    public static func sas(_ s: PythonService, permissions: String, container: String = AzureServer.container,
                           expiresIn: Int = 3600) async throws -> String {
        let url = "http://127.0.0.1:\(s.port)/__azure/sas?container=\(container)&permissions=\(permissions)&expires_in=\(expiresIn)"
        let r = try await CurlHTTPClient().send("GET", url)
        guard r.status == 200 else { throw TestServerError("SAS request failed: HTTP \(r.status)") }
        return String(decoding: r.body, as: UTF8.self)
    }

    /// The server's counters: requests by operation, auth failures, connections.
    public static func stats(_ s: PythonService) async throws -> [String: Int] {
        let r = try await CurlHTTPClient().send("GET", "http://127.0.0.1:\(s.port)/__azure/stats")
        return (try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Int]) ?? [:]
    }

    /// An `azure://` URL for the test container under `prefix`, through `endpoint` (the server's, or a proxy's).
    public static func url(_ s: PythonService, endpoint: String? = nil, container: String = AzureServer.container, prefix: String,
                           options: String = "") -> String {
        "azure://\(container)/\(prefix)?endpoint=\(endpoint ?? s.endpoint)&account=\(account)\(options)"
    }

    /// A store with Shared Key credentials (via settings, as from a config file) under a fresh prefix.
    public static func store(_ s: PythonService, endpoint: String? = nil, container: String = AzureServer.container, prefix: String? = nil,
                             options: String = "", settings extra: [String: String] = [:]) throws -> AzureBlobStore {
        var settings = ["azure.account_key": key(s)]
        for (k, v) in extra { settings[k] = v }
        let url = url(s, endpoint: endpoint, container: container, prefix: prefix ?? "run-" + UUID().uuidString.prefix(8).lowercased(), options: options)
        return try AzureBlobStore(url: url, settings: StoreSettings(settings), environment: [:])
    }

    /// A store carrying a SAS token (no key at all).
    public static func sasStore(_ s: PythonService, sas: String, endpoint: String? = nil, prefix: String? = nil) throws -> AzureBlobStore {
        let url = url(s, endpoint: endpoint, prefix: prefix ?? "sas-" + UUID().uuidString.prefix(8).lowercased())
        return try AzureBlobStore(url: url, settings: StoreSettings(["azure.sas_token": sas]), environment: [:])
    }

    /// A fault proxy in front of the shared server, answering Azure's error codes.
    public static func faultProxy(failRate: Double, faults: String, seed: Int = 7, stallSeconds: Double = 3,
                                  methods: String? = nil, latencyMs: Int = 0) async throws -> PythonService {
        let s = try await shared()
        let origin = "http://127.0.0.1:\(s.port)"
        return try await FaultProxy.start(upstream: origin, failRate: failRate, faults: faults, seed: seed, stallSeconds: stallSeconds,
                                          methods: methods, latencyMs: latencyMs, dialect: "azure")
    }

    /// The proxy's endpoint for this account (path-style: the account is the first path segment).
    public static func endpoint(through proxy: PythonService) -> String { proxy.endpoint + "/" + account }
}

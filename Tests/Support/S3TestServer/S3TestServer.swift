@_exported import CloudTestSupport
import Foundation
import TroveHTTP
import TroveS3
import TroveStorage

/// Test support shared by the S3 test targets (TroveS3Tests, TroveCLITests): the moto S3 server with
/// signature checking on (Tests/s3server), and the fault proxy in front of it.

/// The moto server shared by every test in this process (started on first use).
public enum Moto {
    public static let bucket = "trove-test"
    private static let server = Task<PythonService, any Error> {
        try await PythonService.start("s3server/moto_launcher.py", ["--port", "0", "--bucket", bucket])
    }

    public static func shared() async throws -> PythonService { try await server.value }

    /// Settings carrying the test user's credentials (secrets via settings, as from a config file).
    public static func settings(_ moto: PythonService) -> StoreSettings {
        StoreSettings([
            "s3.access_key_id": moto.info["access_key_id"] as! String,
            "s3.secret_access_key": moto.info["secret_access_key"] as! String,
        ])
    }

    /// The launcher's connection and request counters.
    public static func stats(_ moto: PythonService) async throws -> [String: Int] {
        let r = try await CurlHTTPClient().send("GET", moto.endpoint + "/__launcher/stats")
        return (try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Int]) ?? [:]
    }

    public static func secret(_ moto: PythonService) -> String { moto.info["secret_access_key"] as! String }

    /// A store on the test bucket under a fresh prefix, through `endpoint` (moto's, or a proxy's).
    public static func store(_ moto: PythonService, endpoint: String? = nil, bucket: String = Moto.bucket, prefix: String? = nil,
                      options: String = "", settings extra: [String: String] = [:]) throws -> S3BlobStore {
        var settings = Self.settings(moto)
        for (k, v) in extra { settings.values[k] = v }
        let url = "s3://\(bucket)/\(prefix ?? "run-" + UUID().uuidString.prefix(8).lowercased())?endpoint=\(endpoint ?? moto.endpoint)&region=us-east-1&path_style=true\(options)"
        return try S3BlobStore(url: url, settings: settings, environment: [:])
    }
}

/// A fault proxy in front of the shared moto server.
extension FaultProxy {
    /// `methods` limits faults to those HTTP methods (e.g. "PUT"); `latencyMs` delays every forwarded request.
    public static func start(failRate: Double, faults: String, seed: Int = 7, stallSeconds: Double = 3,
                             methods: String? = nil, latencyMs: Int = 0) async throws -> PythonService {
        let moto = try await Moto.shared()
        return try await start(upstream: moto.endpoint, failRate: failRate, faults: faults, seed: seed, stallSeconds: stallSeconds,
                               methods: methods, latencyMs: latencyMs)
    }
}

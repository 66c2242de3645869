import Foundation
import TroveS3
import TroveStorage

/// Test support shared by the S3 test targets (TroveS3Tests, TroveCLITests): the moto S3 server with
/// signature checking on, and the fault-injecting proxy, both from Tests/s3server.

/// A Python helper from Tests/s3server, started for tests: it prints one JSON line when ready and
/// exits when its stdin closes, so it never outlives the test process even if `stop` is not called.
public final class PythonService: @unchecked Sendable {
    public let process: Process
    let stdin: Pipe
    public let info: [String: Any]
    public let logPath: String

    /// Tests/s3server, found from this file's path (Tests/Support/S3TestServer/…).
    public static let serverDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("s3server")

    public var endpoint: String { info["endpoint"] as? String ?? "" }
    public var port: Int { info["port"] as? Int ?? 0 }

    /// Starts `script` with `arguments`; fails with the helper's stderr and an install hint when it does not come up.
    public static func start(_ script: String, _ arguments: [String], timeout: TimeInterval = 90) async throws -> PythonService {
        try await withCheckedThrowingContinuation { c in
            // Blocking reads happen on a thread of their own, not on the cooperative pool.
            Thread {
                c.resume(with: Result { try startBlocking(script, arguments, timeout: timeout) })
            }.start()
        }
    }

    private init(process: Process, stdin: Pipe, info: [String: Any], logPath: String) {
        self.process = process
        self.stdin = stdin
        self.info = info
        self.logPath = logPath
    }

    private static func startBlocking(_ script: String, _ arguments: [String], timeout: TimeInterval) throws -> PythonService {
        let scriptPath = serverDirectory.appendingPathComponent(script).path
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("trove-\(script)-\(UUID().uuidString.prefix(8)).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", scriptPath] + arguments
        let stdin = Pipe(), stdout = Pipe()
        p.standardInput = stdin
        p.standardOutput = stdout
        p.standardError = FileHandle(forWritingAtPath: logPath)
        var env = ProcessInfo.processInfo.environment
        env["PYTHONUNBUFFERED"] = "1"
        p.environment = env
        do { try p.run() } catch {
            throw TestServerError("cannot start python3 \(script): \(error). Tests need python3 with moto: pip install 'moto[server]' boto3")
        }
        let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        defer { killer.cancel() }
        var line: [UInt8] = []
        let handle = stdout.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        guard let nl = line.firstIndex(of: UInt8(ascii: "\n")),
              let json = try? JSONSerialization.jsonObject(with: Data(line[..<nl])) as? [String: Any] else {
            p.waitUntilExit()
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw TestServerError("""
                Tests/s3server/\(script) did not start (exit \(p.terminationStatus)). The S3 tests need python3 with \
                moto 5 and boto3: pip install 'moto[server]' boto3. Its output:
                \(log.suffix(3000))
                """)
        }
        return PythonService(process: p, stdin: stdin, info: json, logPath: logPath)
    }

    public func stop() {
        try? stdin.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
    }
}

public struct TestServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// The moto server shared by every test in this process (started on first use).
public enum Moto {
    public static let bucket = "trove-test"
    private static let server = Task<PythonService, any Error> {
        try await PythonService.start("moto_launcher.py", ["--port", "0", "--bucket", bucket])
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

/// A fault proxy in front of the shared moto server; stopped by `stop()` or with the test process.
public enum FaultProxy {
    /// `methods` limits faults to those HTTP methods (e.g. "PUT"); `latencyMs` delays every forwarded request.
    public static func start(failRate: Double, faults: String, seed: Int = 7, stallSeconds: Double = 3,
                             methods: String? = nil, latencyMs: Int = 0) async throws -> PythonService {
        let moto = try await Moto.shared()
        var args = [
            "--upstream", moto.endpoint, "--port", "0", "--fail-rate", String(failRate), "--faults", faults,
            "--seed", String(seed), "--stall-seconds", String(stallSeconds),
        ]
        if let methods { args += ["--methods", methods] }
        if latencyMs > 0 { args += ["--latency-ms", String(latencyMs)] }
        return try await PythonService.start("fault_proxy.py", args)
    }

    public static func stats(_ proxy: PythonService) async throws -> [String: Int] {
        let client = try CurlHTTPClient()
        let r = try await client.send("GET", proxy.endpoint + "/__proxy/stats")
        return (try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Int]) ?? [:]
    }
}

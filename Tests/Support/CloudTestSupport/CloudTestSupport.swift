import Foundation
import TroveHTTP

/// Test support shared by the cloud test targets (S3 and Azure): Python helpers started from Swift
/// tests, and the fault proxy that sits in front of any of them.

/// A Python helper from Tests/ (the moto launcher, the Azure test server, the fault proxy), started for
/// tests: it prints one JSON line when ready and exits when its stdin closes, so it never outlives the
/// test process even if `stop` is not called.
public final class PythonService: @unchecked Sendable {
    public let process: Process
    let stdin: Pipe
    public let info: [String: Any]
    public let logPath: String

    /// Tests/, found from this file's path (Tests/Support/CloudTestSupport/…).
    public static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    public var endpoint: String { info["endpoint"] as? String ?? "" }
    public var port: Int { info["port"] as? Int ?? 0 }

    /// What the Python helpers need installed (`make test` installs it: the Makefile's `pydeps`).
    public static let installHint = "pip install 'moto[server]' boto3 azure-storage-blob (make pydeps)"

    /// Starts `script` (a path under Tests/, e.g. `s3server/fault_proxy.py`) with `arguments`; fails with
    /// the helper's stderr and an install hint when it does not come up.
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
        let scriptPath = testsDirectory.appendingPathComponent(script).path
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("trove-\((script as NSString).lastPathComponent)-\(UUID().uuidString.prefix(8)).log").path
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
            throw TestServerError("cannot start python3 \(script): \(error). Tests need python3 with \(installHint)")
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
                Tests/\(script) did not start (exit \(p.terminationStatus)). The cloud tests need python3 with \
                \(installHint). Its output:
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

/// The fault-injecting proxy (Tests/s3server/fault_proxy.py) in front of a test server; stopped by
/// `stop()` or with the test process.
public enum FaultProxy {
    /// `methods` limits faults to those HTTP methods (e.g. "PUT"); `latencyMs` delays every forwarded
    /// request; `dialect` (`s3`, `azure`) shapes the error answers the proxy makes up.
    public static func start(upstream: String, failRate: Double, faults: String, seed: Int = 7, stallSeconds: Double = 3,
                             methods: String? = nil, latencyMs: Int = 0, dialect: String = "s3") async throws -> PythonService {
        var args = [
            "--upstream", upstream, "--port", "0", "--fail-rate", String(failRate), "--faults", faults,
            "--seed", String(seed), "--stall-seconds", String(stallSeconds), "--dialect", dialect,
        ]
        if let methods { args += ["--methods", methods] }
        if latencyMs > 0 { args += ["--latency-ms", String(latencyMs)] }
        return try await PythonService.start("s3server/fault_proxy.py", args)
    }

    public static func stats(_ proxy: PythonService) async throws -> [String: Int] {
        let client = try CurlHTTPClient()
        let r = try await client.send("GET", proxy.endpoint + "/__proxy/stats")
        return (try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Int]) ?? [:]
    }
}

import Foundation
import S3TestServer
import Testing
import TroveS3

@Suite struct CurlHTTPClientTests {
    @Test func refusedConnectionIsATransientClientError() async throws {
        let client = try CurlHTTPClient()
        do {
            _ = try await client.send("GET", "http://127.0.0.1:1/x?secret=never-shown")
            Issue.record("connected to port 1")
        } catch let e as HTTPClientError {
            #expect(e.kind == .cannotConnect && e.isTransient)
            #expect(e.description == "cannot connect to http://127.0.0.1:1: connection refused")
        }
    }

    @Test func shutdownFailsRequestsCleanly() async throws {
        let client = try CurlHTTPClient()
        client.shutdown()
        client.shutdown()
        try await Task.sleep(for: .milliseconds(50))
        do {
            _ = try await client.send("GET", "http://127.0.0.1:1/")
            Issue.record("a request on a shut-down client ran")
        } catch let e as HTTPClientError {
            #expect(e.kind == .shutdown && !e.isTransient)
        }
    }

    @Test func cancellationAbortsAStalledTransfer() async throws {
        let proxy = try await FaultProxy.start(failRate: 1.0, faults: "stall", stallSeconds: 20)
        defer { proxy.stop() }
        let client = try CurlHTTPClient()
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { try await client.send("GET", proxy.endpoint + "/anything") }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(clock.now - start < .seconds(5))
    }

    @Test func concurrentRequestsAllComplete() async throws {
        let moto = try await Moto.shared()
        var config = CurlHTTPClient.Configuration()
        config.maxConnections = 4
        let client = try CurlHTTPClient(configuration: config)
        // Unsigned requests: moto answers each with an error document, which is still a response.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { g in
            for i in 0..<64 { g.addTask { try await client.send("GET", "\(moto.endpoint)/\(Moto.bucket)/k\(i)").status } }
            return try await g.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.count == 64 && statuses.allSatisfy { $0 >= 400 && $0 < 500 }, "\(statuses)")
    }
}

@Suite struct TestServerHelperTests {
    /// When the Python side cannot start (no python3, no moto), the S3 tests fail with an install hint
    /// rather than skipping.
    @Test func missingHelperFailsLoudly() async throws {
        do {
            _ = try await PythonService.start("no_such_helper.py", [])
            Issue.record("a missing helper started")
        } catch let e as TestServerError {
            #expect(e.description.contains("did not start") && e.description.contains("pip install 'moto[server]'"), "\(e)")
        }
    }
}

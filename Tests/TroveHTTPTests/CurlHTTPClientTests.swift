import Foundation
import S3TestServer
import Testing
import TroveHTTP

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
        do {
            _ = try await client.send("GET", "http://127.0.0.1:1/")
            Issue.record("a request on a shut-down client ran")
        } catch let e as HTTPClientError {
            #expect(e.kind == .shutdown && !e.isTransient)
        }
    }

    @Test func cancellationAbortsAStalledTransfer() async throws {
        let proxy = try await FaultProxy.start(failRate: 1.0, faults: "stall", stallSeconds: 120)
        defer { proxy.stop() }
        let client = try CurlHTTPClient()
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { try await client.send("GET", proxy.endpoint + "/anything") }
        // Cancel once the proxy holds the request: the transfer is running, not queued.
        while try await FaultProxy.stats(proxy)["requests", default: 0] < 1 { try await Task.sleep(for: .milliseconds(20)) }
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        // Ended by the cancellation, not by the proxy giving up on its 120 s stall.
        #expect(clock.now - start < .seconds(60))
    }

    /// Hundreds of requests to a server that never answers, a few connections at a time, cancelled
    /// in waves while earlier ones are aborted and later ones are being started: every cancelled request
    /// must end with `CancellationError` at once. A transfer cancelled while still queued but started
    /// anyway (issue 12, item 17) would run until stall detection gives up on it and end `timedOut`.
    @Test func cancellationStormNeverStartsACancelledTransfer() async throws {
        let proxy = try await FaultProxy.start(upstream: "http://127.0.0.1:1", failRate: 1.0, faults: "stall", stallSeconds: 60)
        defer { proxy.stop() }
        var config = CurlHTTPClient.Configuration()
        config.maxConnections = 3
        // Long enough that, on a loaded machine, a transfer cancelled while running is always aborted by
        // its cancellation before its stall timeout; a cancelled transfer the engine wrongly starts still
        // ends as `timedOut` (after this long), so the bug stays visible.
        config.lowSpeedTime = .seconds(20)
        let client = try CurlHTTPClient(configuration: config)
        var outcomes: [String: Int] = [:]
        for wave in 0..<25 {
            let tasks = (0..<24).map { i in
                Task { () -> String in
                    do {
                        _ = try await client.send("GET", proxy.endpoint + "/storm/\(wave)/\(i)")
                        return "answered"
                    } catch is CancellationError {
                        return "cancelled"
                    } catch let e as HTTPClientError {
                        return "\(e.kind)"
                    } catch {
                        return "\(error)"
                    }
                }
            }
            // Let the wave queue up, then cancel it from the oldest: each cancelled running transfer
            // frees a connection, which the engine hands to the next queued one just as it is cancelled.
            for _ in 0..<(wave % 5) { await Task.yield() }
            for t in tasks { t.cancel(); if wave % 2 == 0 { await Task.yield() } }
            for t in tasks { outcomes[await t.value, default: 0] += 1 }
        }
        let reached = try await FaultProxy.stats(proxy)["requests"] ?? 0
        print("cancellation storm: \(outcomes), \(reached) requests reached the server")
        #expect(outcomes == ["cancelled": 25 * 24], "\(outcomes)")
        // The client still works afterwards: no aborted transfer kept a connection slot.
        await #expect(throws: HTTPClientError.self) { _ = try await client.send("GET", "http://127.0.0.1:1/after") }
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
            _ = try await PythonService.start("s3server/no_such_helper.py", [])
            Issue.record("a missing helper started")
        } catch let e as TestServerError {
            #expect(e.description.contains("did not start") && e.description.contains("pip install 'moto[server]' boto3 azure-storage-blob"), "\(e)")
        }
    }
}

import Foundation
import ServiceLifecycle
import Hummingbird
import Logging
import Synchronization
import Testing
import TroveContent
import TroveManifest
import TrovePublish
import TroveRepository
import TroveServe
import TroveStorage
import TroveTesting
#if canImport(Glibc)
import Glibc
#endif

/// A build tree on disk, written from a dictionary of relative path → contents.
struct TreeBuilder {
    let root: String
    init(_ files: Tree, symlinks: [String: String] = [:]) throws {
        root = tempDir("serve-tree").path
        try writeTree(files, to: URL(fileURLWithPath: root))
        for (path, target) in symlinks {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: target)
        }
    }
    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

func text(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The standard fixture site: a Read the Docs layout with html/, pdf/ and epub/.
enum Site {
    static let page = text("<html><head><link rel=stylesheet href=_static/site.css></head><body>"
                           + String(repeating: "Trove serves documentation. ", count: 60) + "</body></html>\n")
    static let css = text("body { color: #333 }\n" + String(repeating: ".x { margin: 0 }\n", count: 50))
    static let pdf = pseudoRandom(3 << 20 + 12345, seed: 7) // several chunks, incompressible
    static let files: [String: [UInt8]] = [
        "html/index.html": text("<html>index v1</html>\n"),
        "html/page.html": page,
        "html/guide/index.html": text("<html>guide</html>\n"),
        "html/404.html": text("<html>our own 404</html>\n"),
        "html/_static/site.css": css,
        "html/data.unknownext": text("opaque"),
        "html/space name.html": text("<html>spaces</html>\n"),
        "pdf/demo.pdf": pdf,
        "epub/demo.epub": text("epub bytes"),
    ]
}

/// A server over a memory store, running in-process on 127.0.0.1 with an OS-chosen port.
final class Harness: Sendable {
    let memory = MemoryBlobStore()
    /// The memory store as serve sees it: an outage switch (`down`) and read counts.
    let store: HookedStore
    let repository: Repository
    let cacheDir: String

    /// `read`: a hook around every store read (to hold or fail some).
    init(read: HookedStore.ReadHook? = nil) {
        store = HookedStore(memory, read: read)
        cacheDir = NSTemporaryDirectory() + "trove-serve-cache-\(UUID().uuidString)"
        repository = Repository(store: store, cacheDirectory: URL(fileURLWithPath: cacheDir))
    }

    @discardableResult
    func publish(_ project: String, _ version: String, _ files: [String: [UInt8]], symlinks: [String: String] = [:],
                 dictionary: Bool = false) async throws -> PublishReport {
        let tree = try TreeBuilder(files, symlinks: symlinks)
        defer { tree.remove() }
        var o = PublishOptions()
        o.trainDictionary = dictionary
        o.threads = 2
        return try await Publisher(repository: repository, options: o).publish(project: project, version: version, from: tree.root)
    }

    /// Runs `body` against a running server; stops it afterwards.
    /// `repository` serves instead of the harness's own (e.g. a cold node: another cache directory).
    func withServer<T>(repository: Repository? = nil, _ configure: (inout ServeConfiguration) -> Void = { _ in },
                       logger: Logger = Logger(label: "trove.serve"),
                       _ body: (Client, TroveServer) async throws -> T) async throws -> T {
        var c = ServeConfiguration()
        c.host = "127.0.0.1"
        c.port = 0
        c.accessLog = false
        configure(&c)
        let server = TroveServer(repository: repository ?? self.repository, configuration: c, logger: logger)
        let (stream, cont) = AsyncStream.makeStream(of: Int.self)
        let app = server.application { port in cont.yield(port); cont.finish() }
        // Stopped with a graceful shutdown, as `trove serve` stops on SIGTERM: cancelling the serving
        // task instead traps in NIO when a connection was accepted but not yet served ("Deinited
        // NIOAsyncWriter without calling finish()", apple/swift-nio#3481).
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task { try await group.run() }
        var port = 0
        for await p in stream { port = p }
        func stop() async {
            await group.triggerGracefulShutdown()
            // A client still holding a request open must not hang the test: cancel after a while.
            let deadline = Task {
                try await Task.sleep(for: .seconds(20))
                task.cancel()
            }
            _ = await task.result
            deadline.cancel()
        }
        let result: T
        do { result = try await body(Client(port: port), server) } catch {
            await stop()
            throw error
        }
        await stop()
        return result
    }

    deinit { try? FileManager.default.removeItem(atPath: cacheDir) }
}

/// One HTTP exchange as a real client (curl) saw it.
struct Reply: CustomStringConvertible {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var exitCode: Int32
    var text: String { String(decoding: body, as: UTF8.self) }
    subscript(_ name: String) -> String? { headers[name.lowercased()] }
    var description: String { "\(status) \(headers) \(text.prefix(200))" }
}

/// curl against the server: `--path-as-is` so hostile paths reach it unnormalised.
struct Client: Sendable {
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    /// Runs curl off the cooperative thread pool (a blocked pool thread could starve the in-process server).
    func get(_ path: String, headers: [String: String] = [:], method: String = "GET", extra: [String] = []) async throws -> Reply {
        try await offPool { try getBlocking(path, headers: headers, method: method, extra: extra) }
    }

    func raw(_ request: [UInt8]) async throws -> [UInt8] {
        try await offPool { try rawBlocking(request) }
    }

    func getBlocking(_ path: String, headers: [String: String], method: String, extra: [String]) throws -> Reply {
        let dir = NSTemporaryDirectory() + "trove-curl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var args = ["-s", "--path-as-is", "-D", dir + "/h", "-o", dir + "/b", "--max-time", "20", "-X", method]
        if method == "HEAD" { args = ["-s", "--path-as-is", "-I", "-D", dir + "/h", "-o", dir + "/b", "--max-time", "20"] }
        for (k, v) in headers { args += ["-H", "\(k): \(v)"] }
        args += extra
        args.append(base + path)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = args
        try p.run()
        p.waitUntilExit()
        let head = (try? String(contentsOfFile: dir + "/h", encoding: .utf8)) ?? ""
        var status = 0
        var fields: [String: String] = [:]
        for line in head.split(separator: "\r\n") {
            if line.hasPrefix("HTTP/") { status = Int(line.split(separator: " ")[1]) ?? 0; fields = [:]; continue }
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = method == "HEAD" ? [] : ((try? Data(contentsOf: URL(fileURLWithPath: dir + "/b"))).map { [UInt8]($0) } ?? [])
        return Reply(status: status, headers: fields, body: body, exitCode: p.terminationStatus)
    }

    /// Sends raw bytes over TCP and returns what came back before the server closed or 3 s passed.
    func rawBlocking(_ request: [UInt8]) throws -> [UInt8] {
        let s = try RawSocket(port: port, timeout: 3)
        s.send(request)
        s.shutdownWrite()
        return s.readToEnd()
    }
}

/// A blocking loopback connection that stays open between sends (unlike `Client.raw`).
final class RawSocket: @unchecked Sendable {
    let fd: Int32
    private var received: [UInt8] = []

    /// `receiveBuffer` shrinks the socket's receive buffer (set before connecting); reads give up
    /// after `timeout` seconds.
    init(port: Int, receiveBuffer: Int32? = nil, timeout: Int = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// No more requests: the server sees end of input.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Everything the server sends until it closes (or the receive timeout passes).
    func readToEnd() -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buf[0..<n]
        }
        defer { received = [] }
        return received
    }

    /// Reads until `methods.count` whole responses have arrived (or the peer closes, or 5 s pass).
    func responses(_ methods: [String]) -> [RawResponse] {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let parsed = parseResponses(received, methods: methods)
            if parsed.count == methods.count, Self.consumed(received, methods: methods) <= received.count {
                received.removeFirst(Self.consumed(received, methods: methods))
                return parsed
            }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return parsed }
            received += buf[0..<n]
        }
    }

    /// True when the server has closed the connection (reads end of stream) within the receive timeout.
    func isClosedByPeer() -> Bool {
        var b = [UInt8](repeating: 0, count: 16)
        return b.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } == 0
    }

    /// True when the server has closed the connection already (end of stream now, without waiting).
    func closedYet() -> Bool {
        var b: UInt8 = 0
        return recv(fd, &b, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0
    }

    /// Bytes taken by the first `methods.count` responses (heads plus Content-Length bodies).
    static func consumed(_ bytes: [UInt8], methods: [String]) -> Int {
        var at = 0
        let sep: [UInt8] = Array("\r\n\r\n".utf8)
        for m in methods {
            guard let end = bytes[at...].firstRange(of: sep) else { return Int.max }
            let head = String(decoding: bytes[at..<end.lowerBound], as: UTF8.self).lowercased()
            var length = 0
            for line in head.components(separatedBy: "\r\n") where line.hasPrefix("content-length:") {
                length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
            }
            if m == "HEAD" || head.hasPrefix("http/1.1 304") { length = 0 }
            at = end.upperBound + length
        }
        return at
    }
}

/// Runs blocking work on a plain thread.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread { c.resume(with: Result { try work() }) }.start()
    }
}

/// Runs a command, returning its exit status and standard output.
func run(_ tool: String, _ args: [String], stdin: [UInt8]? = nil) throws -> (Int32, [UInt8]) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    let inPipe = Pipe()
    if stdin != nil { p.standardInput = inPipe }
    try p.run()
    if let stdin {
        inPipe.fileHandleForWriting.write(Data(stdin))
        try inPipe.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, [UInt8](data))
}

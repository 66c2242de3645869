import NIOPosix

/// Runs blocking system calls (file I/O, fsync, flock) off the Swift cooperative thread pool,
/// on SwiftNIO's shared blocking-I/O thread pool.
public enum BlockingIO {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}

import Foundation
import NIOPosix
import Synchronization

/// Runs blocking system calls (file I/O, fsync, flock) off the Swift cooperative thread pool,
/// on SwiftNIO's shared blocking-I/O thread pool.
public enum BlockingIO {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}

/// CPU-bound work of a few milliseconds that must not wait (building a manifest while the last packs
/// are written): on threads of its own, so it neither blocks the cooperative pool nor queues behind
/// the fsyncs on the blocking-I/O pool (one thread per core).
public enum DedicatedThread {
    /// Runs `body` on a new thread.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            let t = Thread { c.resume(with: Result { try body() }) }
            t.stackSize = 1 << 20
            t.start()
        }
    }

    /// `body` started on a new thread; `join()` blocks until it is done. For splitting blocking work
    /// across cores from a thread that may block.
    public final class Fork<T: Sendable>: Sendable {
        private let result = Mutex<Result<T, any Error>?>(nil)
        private let done = DispatchSemaphore(value: 0)

        public init(_ body: @escaping @Sendable () throws -> T) {
            let t = Thread { [self] in
                let r = Result { try body() }
                result.withLock { $0 = r }
                done.signal()
            }
            t.stackSize = 1 << 20
            t.start()
        }

        /// Waits for the thread; returns what `body` returned or throws what it threw. Call once.
        public func join() throws -> T {
            done.wait()
            return try result.withLock { $0! }.get()
        }
    }
}

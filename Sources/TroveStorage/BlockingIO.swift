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
        private let outcome = Outcome<T>()

        public init(_ body: @escaping @Sendable () throws -> T) {
            let t = Thread { [outcome] in outcome.set(Result { try body() }) }
            t.stackSize = 1 << 20
            t.start()
        }

        /// Waits for the thread; returns what `body` returned or throws what it threw. Call once.
        public func join() throws -> T { try outcome.wait() }
    }

    /// Runs async work from a thread that may block (a dedicated thread, never the cooperative pool),
    /// blocking it until the work is done.
    public static func await<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = Outcome<T>()
        Task {
            do { outcome.set(.success(try await operation())) } catch { outcome.set(.failure(error)) }
        }
        return try outcome.wait()
    }

    /// A result set once by one thread and waited for by another.
    final class Outcome<T: Sendable>: Sendable {
        private let result = Mutex<Result<T, any Error>?>(nil)
        private let done = DispatchSemaphore(value: 0)

        func set(_ r: Result<T, any Error>) {
            result.withLock { $0 = r }
            done.signal()
        }

        func wait() throws -> T {
            done.wait()
            return try result.withLock { $0! }.get()
        }
    }
}

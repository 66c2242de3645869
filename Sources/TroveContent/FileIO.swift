#if canImport(Glibc)
import Glibc
#endif

/// The blocking read and write loops every module needs on a file descriptor: whole writes and full
/// reads, carrying on after short transfers and `EINTR`. Callers turn the error into their own.
public enum FileIO {
    /// A read or write failed; `description` is the system's explanation (`strerror`).
    public struct Failure: Error, CustomStringConvertible {
        public let code: Int32
        public var description: String { String(cString: strerror(code)) }
    }

    /// Writes all of `bytes` to `fd`: at `offset` with `pwrite` (the file position does not move; the
    /// export writes pieces of a file out of order) or, without one, at its file position.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int? = nil) throws {
        var done = 0
        while done < bytes.count {
            let p = bytes.baseAddress! + done, count = bytes.count - done
            let n = offset.map { pwrite(fd, p, count, off_t($0 + done)) } ?? write(fd, p, count)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(code: errno)
            }
            done += n
        }
    }

    /// Reads into `buffer` until it is full or the file ends: from `offset` with `pread` (the file
    /// position does not move) or, without one, from the file position. Returns the bytes read, fewer
    /// than `buffer.count` only at the end of the file.
    public static func readFull(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int? = nil) throws -> Int {
        var done = 0
        while done < buffer.count {
            let p = buffer.baseAddress! + done, count = buffer.count - done
            let n = offset.map { pread(fd, p, count, off_t($0 + done)) } ?? read(fd, p, count)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(code: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }
}

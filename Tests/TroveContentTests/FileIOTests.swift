import Foundation
import Testing
import TroveContent

/// The read/write loops every module uses: whole writes, reads that stop only at end of file, errors
/// carrying the system's explanation.
@Suite struct FileIOTests {
    @Test func writesAllAndReadsFullOrToTheEnd() throws {
        let path = NSTemporaryDirectory() + "trove-fileio-\(UUID().uuidString)"
        defer { unlink(path) }
        let bytes = (0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let w = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        #expect(w >= 0)
        try bytes.withUnsafeBytes { try FileIO.writeAll(w, $0) }
        close(w)

        let r = open(path, O_RDONLY)
        defer { close(r) }
        var out = [UInt8](repeating: 0, count: bytes.count + 100)
        // From the file position: everything, then nothing.
        #expect(try out.withUnsafeMutableBytes { try FileIO.readFull(r, into: $0) } == bytes.count)
        #expect(Array(out[..<bytes.count]) == bytes)
        #expect(try out.withUnsafeMutableBytes { try FileIO.readFull(r, into: $0) } == 0)
        // At an offset: the rest of the file, without moving the position.
        let n = try out.withUnsafeMutableBytes { try FileIO.readFull(r, into: $0, at: 1000) }
        #expect(n == bytes.count - 1000 && Array(out[..<n]) == Array(bytes[1000...]))
    }

    @Test func failuresCarryTheSystemsExplanation() {
        var buf = [UInt8](repeating: 0, count: 8)
        #expect { try buf.withUnsafeMutableBytes { try FileIO.readFull(-1, into: $0) } } throws: { error in
            (error as? FileIO.Failure)?.code == EBADF && "\(error)" == String(cString: strerror(EBADF))
        }
        #expect(throws: FileIO.Failure.self) { try buf.withUnsafeBytes { try FileIO.writeAll(-1, $0) } }
    }
}

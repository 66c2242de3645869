#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import NIOCore

/// The first handler of a connection: answers fast-path requests straight from the socket's bytes,
/// before SwiftNIO's HTTP decoder and encoder. Most of the per-request cost of a small cached file was
/// the HTTP/1 codec and the `HTTPTypes` conversions around it, not Trove's own work (docs/serve.md).
///
/// Only whole heads that `RawRequestHead` fully understands are answered here; the bytes of any other
/// bodyless request go to the decoder unchanged, one complete request at a time, and the first request
/// that is not understood (a body, an upgrade, HTTP/1.0, a malformed line, an oversized head) hands the
/// connection to the decoder for good. Answers are the fast path's (`TroveServer.fastReply`), written as
/// the encoder would write them; pipelined order holds because nothing is answered here while an earlier
/// request of the connection is still with `FastPathHandler` or Hummingbird.
final class RawFastPathHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let server: TroveServer
    let activity: ConnectionActivity
    /// Bytes of an incomplete head.
    private var pending: ByteBuffer?
    /// Everything goes to the decoder from now on.
    private var passthrough = false
    private var needsFlush = false
    /// Bytes went to the decoder since the last read-complete (the handlers behind it then need one).
    private var forwarded = false
    private var tailSecond: time_t = -1
    private var tail = ByteBuffer()

    init(server: TroveServer, activity: ConnectionActivity) {
        self.server = server
        self.activity = activity
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if passthrough {
            forwarded = true
            context.fireChannelRead(data)
            return
        }
        var bytes = unwrapInboundIn(data)
        if var p = pending {
            pending = nil
            p.writeBuffer(&bytes)
            bytes = p
        }
        while bytes.readableBytes > 0 {
            let end: Int
            switch bytes.withUnsafeReadableBytes(RawRequestHead.end(in:)) {
            case .complete(let n):
                end = n
            case .incomplete where bytes.readableBytes <= RawRequestHead.maxBytes:
                pending = bytes
                return
            case .incomplete, .malformed:
                handOver(bytes, context: context)
                return
            }
            let start = ContinuousClock.now
            let head = bytes.withUnsafeReadableBytes { RawRequestHead.classify(UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
            switch head {
            case .fast(let isHead, let target, let acceptEncoding, let ifNoneMatch):
                if activity.inFlight == 0, context.channel.isWritable,
                   let answer = server.rawAnswer(FastRequest(isHead: isHead, target: target, acceptEncoding: acceptEncoding,
                                                             ifNoneMatch: ifNoneMatch,
                                                             credentials: server.hasPrivateProjects ? .raw(bytes.getSlice(at: bytes.readerIndex, length: end)!) : .none)) {
                    bytes.moveReaderIndex(forwardBy: end)
                    send(answer, method: isHead ? .head : .get, target: target, start: start, context: context)
                    continue
                }
                forwarded = true
                context.fireChannelRead(wrapInboundOut(bytes.readSlice(length: end)!))
            case .bodyless:
                forwarded = true
                context.fireChannelRead(wrapInboundOut(bytes.readSlice(length: end)!))
            case .other:
                handOver(bytes, context: context)
                return
            }
        }
    }

    /// From now on the decoder reads the connection; `bytes` are the first it gets.
    private func handOver(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        passthrough = true
        forwarded = true
        if bytes.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(bytes)) }
    }

    private func send(_ answer: RawAnswer, method: HTTPRequest.Method, target: String, start: ContinuousClock.Instant,
                      context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(answer.head), promise: nil)
        context.write(wrapOutboundOut(headTail()), promise: nil)
        var bytes = 0
        if let body = answer.body, body.readableBytes > 0 {
            bytes = body.readableBytes
            context.write(wrapOutboundOut(body), promise: nil)
        }
        if let file = answer.file {
            // sendfile from the file cache; the handle (a duplicate descriptor) closes once written or failed.
            bytes = file.readableBytes
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { _ in try? file.fileHandle.close() }
            context.write(NIOAny(IOData.fileRegion(file)), promise: written)
        }
        needsFlush = true
        activity.lastAnswer = ContinuousClock.now
        server.metrics.fastPath.increment()
        server.metrics.rawFastPath.increment()
        server.record(method: method, path: target, status: answer.status, bytes: bytes,
                      elapsed: activity.lastAnswer - start, note: answer.note)
    }

    /// `Date`, `Server` and the blank line that end every head, rebuilt when the second changes.
    private func headTail() -> ByteBuffer {
        let second = time(nil)
        if second != tailSecond {
            tailSecond = second
            var b = ByteBuffer()
            b.writeStaticString("Date: ")
            b.writeString(HTTPDate.format(second))
            b.writeStaticString("\r\n")
            if let name = server.configuration.serverName {
                b.writeStaticString("Server: ")
                b.writeString(name)
                b.writeStaticString("\r\n")
            }
            b.writeStaticString("\r\n")
            tail = b
        }
        return tail
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client will send no more: an incomplete head is the decoder's to judge.
        if case ChannelEvent.inputClosed = event, let p = pending {
            pending = nil
            handOver(p, context: context)
            forwarded = false
            context.fireChannelReadComplete()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        // Only the handlers that were given bytes need to hear that the read is complete (Hummingbird's
        // async channel delivers its buffered parts then); a read answered here entirely does not.
        if forwarded {
            forwarded = false
            context.fireChannelReadComplete()
        }
    }
}

@available(*, unavailable)
extension RawFastPathHandler: Sendable {}

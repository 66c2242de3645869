import NIOCore

/// Closes a connection whose client stops reading: when the channel stays unwritable (its outbound
/// buffer above NIO's high watermark because the peer is not draining it) for `timeout`, the
/// connection is closed and the response writer fails. Hummingbird's idle timeout covers idle
/// connections and slow request senders but deliberately not a response in progress, so a client that
/// opens a large download and never reads would otherwise hold its connection and task forever.
final class WriteStallHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let timeout: TimeAmount
    /// Called when a connection is closed for stalling (the server counts it).
    let onStall: @Sendable () -> Void
    private var pending: Scheduled<Void>?

    init(timeout: TimeAmount, onStall: @escaping @Sendable () -> Void = {}) {
        self.timeout = timeout
        self.onStall = onStall
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            pending?.cancel()
            pending = nil
        } else if pending == nil {
            let ctx = context
            let onStall = onStall
            pending = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: timeout) {
                onStall()
                ctx.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.cancel()
        pending = nil
        context.fireChannelInactive()
    }
}

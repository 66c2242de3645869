import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// What the handlers of one connection share about it (all on the connection's event loop).
final class ConnectionActivity {
    /// Requests handed to Hummingbird whose response has not been written completely (`FastPathHandler`).
    var inFlight = 0
    /// When `RawFastPathHandler` last answered: its requests never reach the handlers behind the
    /// HTTP decoder, so the idle timeout learns about them here.
    var lastAnswer = ContinuousClock.Instant.now
}

@available(*, unavailable)
extension ConnectionActivity: Sendable {}

/// Hummingbird's `HTTPConnectionStateHandler`, with the same rules, made aware of requests answered
/// before the HTTP decoder: closes a connection idle for `idleTimeout` (no request being read or
/// answered, no raw answer either), and on graceful shutdown closes it once its current responses are
/// written.
final class ConnectionStateHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let idleTimeout: Duration
    let activity: ConnectionActivity
    private var inProgress = 0
    private var reading = false
    private var lastActive = ContinuousClock.Instant.now
    private var closeAfterResponse = false
    private var isActive = false
    private var timer: Scheduled<Void>?

    init(idleTimeout: Duration, activity: ConnectionActivity) {
        self.idleTimeout = idleTimeout
        self.activity = activity
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { becameActive(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        becameActive(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func becameActive(_ context: ChannelHandlerContext) {
        guard !isActive else { return }
        isActive = true
        lastActive = .now
        schedule(context, at: lastActive + idleTimeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActive = .now
        switch unwrapInboundIn(data) {
        case .head:
            reading = true
            inProgress += 1
        case .body:
            break
        case .end:
            reading = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        inProgress -= 1
        if inProgress == 0 {
            if closeAfterResponse {
                context.writeAndFlush(data, promise: promise)
                context.close(promise: nil)
                return
            }
            lastActive = .now
            schedule(context, at: lastActive + idleTimeout)
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        if inProgress > 0 { closeAfterResponse = true } else { context.close(promise: nil) }
    }

    private func schedule(_ context: ChannelHandlerContext, at deadline: ContinuousClock.Instant) {
        guard timer == nil else { return }
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .init(deadline - .now)) { [self] in
            timer = nil
            timedOut(context)
        }
    }

    private func timedOut(_ context: ChannelHandlerContext) {
        guard isActive else { return }
        // A request was read and is being answered: its end re-arms the timer.
        if !reading, inProgress > 0 { return }
        let last = max(lastActive, activity.lastAnswer)
        if ContinuousClock.now >= last + idleTimeout {
            context.close(promise: nil)
        } else {
            schedule(context, at: last + idleTimeout)
        }
    }
}

@available(*, unavailable)
extension ConnectionStateHandler: Sendable {}

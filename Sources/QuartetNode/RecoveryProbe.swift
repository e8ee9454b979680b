import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QuartetLedger
import QuartetReplication
import QuartetTLS

/// `quartet recover --dry-run`: asks each peer, over the replication protocol and with the
/// node's own certificate, what it holds (its `heads`, each checkpoint verified against the key
/// the federation file pins for its log), then closes. Nothing is written: no data directory,
/// no accepted federation file. A peer that does not answer within the timeout, or answers
/// with something else, is reported as such.
public enum RecoveryProbe {
    /// One peer's answer.
    public struct Answer: Sendable {
        public var peer: String
        /// Entries it holds per log (checkpoints that verified), or nil if it did not answer.
        public var sizes: [String: UInt64]?
        /// Why there is no answer, or what did not verify.
        public var problems: [String] = []
    }

    /// Asks every other member of `plan` at once; answers in member order.
    public static func ask(_ configuration: NodeConfiguration, plan: Recovery.Plan, timeout: Duration, logger: Logger) async throws -> [Answer] {
        let client = try TLSContexts(configuration).client
        return await withTaskGroup(of: Answer.self) { group in
            for member in plan.peers {
                group.addTask { await ask(member, client: client, plan: plan, node: configuration.node, timeout: timeout, logger: logger) }
            }
            var answers: [Answer] = []
            for await answer in group { answers.append(answer) }
            let order = plan.peers.map(\.id)
            return answers.sorted { order.firstIndex(of: $0.peer)! < order.firstIndex(of: $1.peer)! }
        }
    }

    private static func ask(_ member: Federation.Member, client: TLSContext, plan: Recovery.Plan, node: String, timeout: Duration, logger: Logger) async -> Answer {
        let group = MultiThreadedEventLoopGroup.singleton
        var quiet = logger
        quiet[metadataKey: "peer"] = "\(member.id)"
        let hello = Message.hello(version: ProtocolLimits.version, node: node, federation: plan.federation.name)
        let tlsLogger = quiet
        do {
            // A handler per connection attempt (a name with several addresses is tried on each):
            // one that loses and closes cannot fail the answer of the one that won.
            let (channel, promise) = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(max(1, timeout.components.seconds)))
                .connect(host: member.peer.host, port: member.peer.port) { channel in
                    channel.eventLoop.makeCompletedFuture { () throws -> (any Channel, EventLoopPromise<[Message.Head]>) in
                        let promise = channel.eventLoop.makePromise(of: [Message.Head].self)
                        try channel.pipeline.syncOperations.addHandlers([
                            try TLSHandler(context: client, policy: .node(member.id), serverName: member.id, logger: tlsLogger),
                            HeadsHandler(hello: hello, promise: promise),
                        ])
                        return (channel, promise)
                    }
                }
            let deadline = promise.futureResult.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)) {
                promise.fail(ProbeError("no heads within \(timeout)"))
            }
            defer {
                deadline.cancel()
                channel.close(promise: nil)
            }
            // One head per log the federation lists (the last of each, as the replicator keeps
            // them): a frame of thousands of one log's heads costs one check, and one problem.
            var last: [String: Message.Head] = [:]
            for head in try await promise.futureResult.get() where plan.federation.members.contains(where: { $0.log == head.log }) { last[head.log] = head }
            var answer = Answer(peer: member.id, sizes: [:])
            for head in last.values.sorted(by: { $0.log < $1.log }) {
                guard let owner = plan.federation.members.first(where: { $0.log == head.log }) else { continue }
                // The pinned key, or the current key the file names after a rotation (each unless
                // revoked at or below the checkpoint's size).
                let note: SignedNote
                do { note = try SignedNote(parsing: head.note) } catch {
                    answer.problems.append("its checkpoint of \(head.log) is not a signed note: \(error)")
                    continue
                }
                let size = (try? Checkpoint(parsing: note.text))?.size ?? 0
                let verified = owner.logKeys(forSize: size).lazy.compactMap { try? $0.verifyCheckpoint(note) }.first
                if let checkpoint = verified {
                    answer.sizes![head.log] = max(answer.sizes![head.log] ?? 0, checkpoint.size)
                } else {
                    answer.problems.append("its checkpoint of \(head.log) does not verify against the pinned key\(owner.current == nil ? "" : " or the current key the federation file names")")
                }
            }
            return answer
        } catch {
            return Answer(peer: member.id, sizes: nil, problems: ["\(member.peer): \(error)"])
        }
    }

    struct ProbeError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Sends hello once TLS verified the peer; completes with the first `heads`.
    private final class HeadsHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var decoder = FrameDecoder()
        private let hello: Message
        let promise: EventLoopPromise<[Message.Head]>

        init(hello: Message, promise: EventLoopPromise<[Message.Head]>) {
            self.hello = hello
            self.promise = promise
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted? = event as? TLSEvent {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: hello.frame())), promise: nil)
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            decoder.feed(unwrapInboundIn(data).readableBytesView)
            do {
                while let body = try decoder.next() {
                    switch try Message(body: body) {
                    case .heads(let list): promise.succeed(list)
                    case .error(_, let text): promise.fail(ProbeError("it refused: \(PeerText.clean(text))"))
                    default: continue
                    }
                }
            } catch {
                promise.fail(ProbeError("malformed answer: \(error)"))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ProbeError("it closed the connection before answering"))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }

        /// An attempt that never connected (or lost to another address) ends its own promise.
        func handlerRemoved(context: ChannelHandlerContext) {
            promise.fail(ProbeError("the connection ended before answering"))
        }
    }
}

import ServiceLifecycle
import Synchronization

/// Stops a node run in-process (`Node.run(shutdown:)`) gracefully, as SIGTERM stops `quartet
/// serve`: listeners close, the engine stops, pending records are flushed, the data directory
/// is closed. Cancelling the task that runs the node does not do that (services that wait for
/// graceful shutdown keep the run from returning), so a command that runs a node and then
/// goes on (`quartet recover`) uses this instead.
public final class NodeShutdown: Sendable {
    private let group = Mutex<ServiceGroup?>(nil)
    private let requested = Mutex(false)

    public init() {}

    func attach(_ services: ServiceGroup) async {
        group.withLock { $0 = services }
        if requested.withLock({ $0 }) { await services.triggerGracefulShutdown() }
    }

    /// Asks the node to stop; returns at once (await the task that runs it).
    public func trigger() async {
        requested.withLock { $0 = true }
        if let services = group.withLock({ $0 }) { await services.triggerGracefulShutdown() }
    }
}

import Foundation

/// A bound on a whole command that makes many requests of a node (`audit`, `verify-figure`): each request has its
/// own timeout, but a node answering page after page, each just in time, could hold it for ever.
/// Past the bound the command says so and exits with status 1, concluding nothing.
enum OverallDeadline {
    static func start(seconds: Int, command: String) -> Task<Void, Never> {
        Task.detached {
            try? await Task.sleep(for: .seconds(seconds))
            guard !Task.isCancelled else { return }
            FileHandle.standardError.write(Data("quartet \(command): not finished within \(seconds) s (--deadline): the node kept the requests going; nothing was concluded\n".utf8))
            exit(1)
        }
    }
}

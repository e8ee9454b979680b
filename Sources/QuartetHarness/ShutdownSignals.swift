internal import CQuartetHarness
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The write end of the self-pipe the signal handler writes to (set once, before any handler is
/// installed, so the handler only reads it).
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Runs a closure on a thread of its own when this process receives one of the given signals
/// (SIGINT from a Ctrl-C at the terminal, SIGTERM from `kill`), for a supervising process that
/// must stop its children before it ends.
///
/// A real `sigaction` handler writes the signal number to a pipe; a dedicated thread, with the
/// signals unblocked, reads it and calls the closure. Unlike a Dispatch signal source on Linux
/// (a `signalfd` that only sees signals blocked in every thread, so it misses them whenever a
/// parent or an earlier `signal(_, SIG_IGN)` left them otherwise), this works whatever the
/// signal mask and dispositions the process started with; a signal ignored by the shell that
/// started the process (`cmd &`) is handled too.
public enum ShutdownSignals {
    /// Installs the handler for `signals` and starts the thread; `received` is called once per
    /// signal, in order. Call once per process.
    public static func install(_ signals: [Int32], received: @escaping @Sendable (Int32) -> Void) {
        var ends: [Int32] = [0, 0]
        guard quartet_pipe_cloexec(&ends) == 0 else { fatalError("cannot make the signal pipe: \(String(cString: strerror(errno)))") }
        signalPipeWriteEnd = ends[1]
        let readEnd = ends[0]
        let thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            for signal in signals { sigaddset(&set, signal) }
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            var byte: UInt8 = 0
            while true {
                let n = read(readEnd, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                guard n == 1 else { return }
                received(Int32(byte))
            }
        }
        thread.name = "quartet-signals"
        thread.start()
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                // Async-signal-safe: one write(2) to a pipe.
                // errno kept for the thread the signal interrupted.
                let saved = errno
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(signalPipeWriteEnd, &byte, 1)
                errno = saved
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
    }
}

internal import CQuartetHarness
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A pseudo-terminal pair: the test types at and reads from the master; a child runs on the
/// device (`ChildSettings.terminal`) as its controlling terminal, with ISIG on and ^C as the
/// interrupt character, as in a person's terminal.
public final class PseudoTerminal {
    let master: Int32
    /// The device's path (`/dev/pts/N`).
    public let devicePath: String

    public init() throws(ChildProcessError) {
        var name = [CChar](repeating: 0, count: 256)
        master = quartet_open_pseudo_terminal(&name, name.count)
        guard master >= 0 else { throw ChildProcessError(.spawnFailed, "cannot open a pseudo-terminal: \(String(cString: strerror(errno)))") }
        devicePath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let device = open(devicePath, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard device >= 0 else {
            close(master)
            throw ChildProcessError(.spawnFailed, "cannot open \(devicePath): \(String(cString: strerror(errno)))")
        }
        defer { close(device) }
        var settings = termios()
        tcgetattr(device, &settings)
        settings.c_lflag |= tcflag_t(ISIG)
        withUnsafeMutableBytes(of: &settings.c_cc) { $0[Int(VINTR)] = 0x03 }
        // `self` is whole here: its deinit closes `master` once.
        guard tcsetattr(device, TCSANOW, &settings) == 0 else {
            throw ChildProcessError(.spawnFailed, "cannot set the modes of \(devicePath): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(master) }

    /// Writes bytes as if typed.
    public func type(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
    }

    /// Reads what the terminal shows until it contains `text`; throws after `timeout` or when
    /// `alive` turns false first.
    public func read(until text: String, timeout: Duration, alive: () -> Bool) throws(ChildProcessError) -> String {
        let deadline = ContinuousClock.now + timeout
        var shown = ""
        while !shown.contains(text) {
            guard ContinuousClock.now < deadline else { throw ChildProcessError(.timedOut, "the terminal did not show \"\(text)\" within \(timeout); it showed:\n\(shown)") }
            let chunk = readAvailable(wait: 100)
            if chunk.isEmpty && !alive() {
                shown += readAvailable()
                if !shown.contains(text) { throw ChildProcessError(.exitedEarly, "the program ended before the terminal showed \"\(text)\"; it showed:\n\(shown)") }
            }
            shown += chunk
        }
        return shown
    }

    /// What the terminal has to show now, waiting up to `wait` ms for the first bytes.
    public func readAvailable(wait: Int32 = 0) -> String {
        var out = Data()
        var timeout = wait
        while true {
            var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, timeout) > 0, descriptor.revents & Int16(POLLIN) != 0 else { break }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(master, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            out.append(contentsOf: buffer[0..<n])
            timeout = 0
        }
        return String(decoding: out, as: UTF8.self)
    }
}

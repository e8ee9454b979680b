import Foundation
import QuartetTestKit
import Synchronization
import Testing

/// An append acknowledged to a caller survives `kill -9`.
@Suite(.serialized) struct DurabilityTests {
    /// Starts `quartet dev append-loop`, collects its `ack INDEX LEAF` lines while it runs, kills
    /// it with SIGKILL after `milliseconds`, and returns every acknowledgement it printed.
    static func appendThenKill(data: String, milliseconds: Int) throws -> [UInt64: String] {
        let process = Process()
        process.executableURL = try TestKit.quartetBinary()
        process.arguments = ["dev", "append-loop", "--data", data, "--writers", "16"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let collected = Mutex(Data())
        let done = DispatchSemaphore(value: 0)
        let handle = out.fileHandleForReading
        DispatchQueue.global().async {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                collected.withLock { $0.append(chunk) }
            }
            done.signal()
        }
        // Wait until it is appending, then let it run for the chosen time.
        let deadline = Date().addingTimeInterval(30)
        while collected.withLock({ $0.isEmpty }) && Date() < deadline { usleep(1000) }
        usleep(useconds_t(milliseconds * 1000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        done.wait()
        #expect(process.terminationReason == .uncaughtSignal)
        var acks: [UInt64: String] = [:]
        for line in String(decoding: collected.withLock { $0 }, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            // A line cut by the kill is not a complete acknowledgement.
            guard parts.count == 3, parts[0] == "ack", let index = UInt64(parts[1]), parts[2].count == 44 else { continue }
            acks[index] = String(parts[2])
        }
        return acks
    }

    @Test func acknowledgedAppendsSurviveSIGKILL() throws {
        let dir = try TestKit.temporaryDirectory("durability")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        _ = try object(["init", "--log", "wales", "--data", data])
        var acknowledged: [UInt64: String] = [:]
        var generator = SystemRandomNumberGenerator()
        for round in 0..<4 {
            let acks = try Self.appendThenKill(data: data, milliseconds: Int.random(in: 50...700, using: &generator))
            #expect(!acks.isEmpty, "round \(round): nothing was acknowledged")
            acknowledged.merge(acks) { old, _ in old }
            // Every acknowledged entry is present, with the leaf hash that was acknowledged.
            let verify = try TestKit.quartet(["verify", "--data", data, "--format", "json"])
            #expect(verify.status == 0, "round \(round): \(verify.stdout)")
            let checkpoint = try object(["checkpoint", "--data", data, "--log", "wales"])
            let size = try #require(checkpoint["size"] as? Int)
            #expect(UInt64(size) > acknowledged.keys.max() ?? 0, "round \(round): size \(size) is below an acknowledged index")
            let entries = try #require(try json(["log", "--data", data, "--log", "wales", "--limit", "\(size)"]) as? [[String: Any]])
            let stored = Dictionary(uniqueKeysWithValues: entries.map { (UInt64($0["index"] as! Int), $0["leaf_hash"] as! String) })
            for (index, leaf) in acknowledged {
                #expect(stored[index] == leaf, "round \(round): acknowledged entry \(index) lost or changed")
            }
        }
    }
}

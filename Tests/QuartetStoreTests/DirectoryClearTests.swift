import Foundation
@testable import QuartetStore
import QuartetTestKit
import Testing

/// Emptying a directory that a marker says is unfinished (a recovery's `RECOVERING`, a backup's
/// `.backup-in-progress`): the marker goes last, and stays when anything else could not go — a
/// kill in between never leaves a partial directory that looks finished.
@Suite struct DirectoryClearTests {
    func directory(_ names: [String]) throws -> String {
        let path = try TestKit.temporaryDirectory("clear").path
        try FileManager.default.createDirectory(atPath: path + "/keys", withIntermediateDirectories: true)
        for name in names { try Data("x".utf8).write(to: URL(fileURLWithPath: path + "/" + name)) }
        return path
    }

    @Test func theMarkerGoesLast() throws {
        // Names that list before the database and after it, and enough of them that a listing
        // order putting the marker last by chance is unlikely.
        let others = (0..<30).map { "entry-\($0)" }
        let path = try directory(["A-MARKER", "quartet.sqlite", "zz", "writer.lock"] + others)
        var removed: [String] = []
        try DataDirectory.clear(path, keeping: ["writer.lock"], last: ["A-MARKER"]) { url in
            removed.append(url.lastPathComponent)
            try FileManager.default.removeItem(at: url)
        }
        #expect(removed.last == "A-MARKER" && Set(removed) == Set(["A-MARKER", "quartet.sqlite", "zz", "keys"] + others), "\(removed)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: path) == ["writer.lock"])
    }

    @Test func theMarkerStaysWhenAnythingElseCouldNotGo() throws {
        let path = try directory(["A-MARKER", "quartet.sqlite"])
        struct Stuck: Error {}
        #expect(throws: (any Error).self) {
            try DataDirectory.clear(path, last: ["A-MARKER"]) { url in
                if url.lastPathComponent == "quartet.sqlite" { throw Stuck() }
                try FileManager.default.removeItem(at: url)
            }
        }
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: path)) == ["A-MARKER", "quartet.sqlite"])
    }
}

/// A data directory in memory (tmpfs, ramfs) loses every acknowledged append at a reboot: the
/// node and `config check` say so. Checked against `stat -f`, which reads the same statfs.
@Suite struct VolatileFileSystemTests {
    @Test func aDirectoryInMemoryIsToldFromOneOnDisk() throws {
        let stat = try #require(TestKit.which("stat"))
        for path in ["/dev/shm", try TestKit.temporaryDirectory("volatile").path] where FileManager.default.fileExists(atPath: path) {
            let kind = try TestKit.run(stat, ["-f", "-c", "%T", path]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let expected: String? = ["tmpfs", "ramfs"].contains(kind) ? kind : nil
            #expect(DataDirectory(path: path).volatileFileSystem() == expected, "\(path) is \(kind)")
        }
        #expect(DataDirectory(path: "/nowhere/at/all").volatileFileSystem() == nil)
    }
}

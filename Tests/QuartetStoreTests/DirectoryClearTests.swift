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

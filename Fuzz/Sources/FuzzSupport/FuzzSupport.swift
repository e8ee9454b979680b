#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The input libFuzzer hands a harness, as bytes.
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Stops the run: libFuzzer reports the trap as a crash and writes the input to `crash-<sha1>`.
/// `what` is the property that failed; `details` what was seen.
public func fuzzFailure(_ what: String, _ details: @autoclosure () -> String = "",
                        file: StaticString = #fileID, line: UInt = #line) -> Never {
    let text = details()
    fatalError(text.isEmpty ? what : "\(what)\n\(text)", file: file, line: line)
}

/// Fails the run unless `condition` holds.
public func fuzzCheck(_ condition: Bool, _ what: @autoclosure () -> String, _ details: @autoclosure () -> String = "",
                      file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fuzzFailure(what(), details(), file: file, line: line) }
}

/// Known bugs in code the fuzzing branch does not own (docs/fuzzing.md lists each, with its input).
/// The harnesses step around them so that a run goes on to find something new. With
/// `QUARTET_FUZZ_STRICT=1` in the environment they step around none, with
/// `QUARTET_FUZZ_STRICT=name,name` not those named, and the known inputs fail again.
public enum KnownIssues {
    static let strict: Set<String>? = {
        guard let value = getenv("QUARTET_FUZZ_STRICT") else { return [] }
        let text = String(cString: value)
        if text == "0" || text.isEmpty { return [] }
        if text == "1" { return nil }
        return Set(text.split(separator: ",").map(String.init))
    }()

    /// Whether to step around an input that reaches the known bug `name`.
    public static func skip(_ name: String, _ reachesKnownBug: @autoclosure () -> Bool) -> Bool {
        guard let strict, !strict.contains(name) else { return false }
        return reachesKnownBug()
    }
}

/// A short printable rendering of bytes for failure messages.
public func describe(_ bytes: some Collection<UInt8>, limit: Int = 400) -> String {
    let text = String(decoding: bytes.prefix(limit), as: UTF8.self)
    return text.debugDescription + (bytes.count > limit ? " … (\(bytes.count) bytes)" : "")
}

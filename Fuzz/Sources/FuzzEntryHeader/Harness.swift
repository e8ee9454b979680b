import FuzzSupport
import QuartetLedger

/// The entry header decoder (Sources/QuartetLedger/Entry.swift `EntryHeader(decoding:)`;
/// docs/formats.md section 1: "Every accepted byte string is exactly what the encoder would
/// produce for the decoded fields, so there is one encoding per header"). Checked:
/// - decoding and `isPublic(encoded:)` never trap;
/// - a decoded header re-encodes to exactly the input, and passes `validate()`;
/// - for a decoded header, `isPublic(encoded:)` agrees with its classification;
/// - `Entry(headerBytes:payload: nil)` takes exactly the headers that decode.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntryHeader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    let isPublic = EntryHeader.isPublic(encoded: input)
    let header: EntryHeader
    do { header = try EntryHeader(decoding: input) } catch {
        fuzzCheck(error.code == .malformed, "a refusal with code \(error.code)")
        fuzzCheck((try? Entry(headerBytes: input, payload: nil)) == nil, "Entry takes a header EntryHeader refuses")
        return 0
    }
    do {
        let encoded = try header.encoded()
        fuzzCheck(encoded == input, "re-encodes to other bytes", "decoded \(describe(input))\nencoded \(describe(encoded))")
    } catch {
        fuzzFailure("a decoded header does not encode: \(error)", describe(input))
    }
    fuzzCheck(input.count >= 60 && input.count <= 504, "a decoded header of \(input.count) bytes, outside the documented 60–504")
    fuzzCheck(isPublic == (header.classification == EntryHeader.publicClassification),
              "isPublic(encoded:) says \(isPublic) for classification \(header.classification.debugDescription)")
    guard let entry = try? Entry(headerBytes: input, payload: nil) else { fuzzFailure("Entry refuses a header that decodes") }
    fuzzCheck(entry.header == header && entry.isStub && entry.leafHash == Hash.leaf(input), "Entry holds another header or leaf hash")
    return 0
}

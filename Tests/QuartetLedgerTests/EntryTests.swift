import QuartetCrypto
import QuartetLedger
import Testing

@Suite struct EntryHeaderTests {
    static let commitment = try! Hash([UInt8](repeating: 0xAB, count: 32))
    static let header = EntryHeader(log: "wales", index: 7, timeMillis: 1_700_000_000_000, type: "progress.reading",
                                    classification: "public", author: "op-1", payloadCommitment: commitment, payloadLength: 42)

    @Test func encodingIsTheDocumentedLayout() throws {
        // docs/formats.md: version, then length-prefixed strings and big-endian integers.
        var expected: [UInt8] = [0x01]
        expected += [5] + Array("wales".utf8)
        expected += [0, 0, 0, 0, 0, 0, 0, 7]
        expected += [0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00]  // 1_700_000_000_000
        expected += [16] + Array("progress.reading".utf8)
        expected += [6] + Array("public".utf8)
        expected += [4] + Array("op-1".utf8)
        expected += [UInt8](repeating: 0xAB, count: 32)
        expected += [0, 0, 0, 42]
        let bytes = try Self.header.encoded()
        #expect(bytes == expected)
        #expect(Hex.encode(bytes) == "010577616c657300000000000000070000018bcfe5680010"
                + "70726f67726573732e72656164696e67067075626c6963046f702d31"
                + String(repeating: "ab", count: 32) + "0000002a")
        #expect(try EntryHeader(decoding: bytes) == Self.header)
    }

    /// The in-place reads (served batches, the rotation filter) agree with decoding, and a
    /// header too short for the field answers false or nil rather than reading past its end.
    @Test func fieldsReadInPlaceAgreeWithDecoding() throws {
        let bytes = try Self.header.encoded()
        #expect(EntryHeader.payloadCommitment(encoded: bytes) == Self.commitment)
        #expect(EntryHeader.hasType(Array("progress.reading".utf8), encoded: bytes))
        #expect(!EntryHeader.hasType(Array("progress.readings".utf8), encoded: bytes))
        #expect(!EntryHeader.hasType(Array("progress.readin".utf8), encoded: bytes))
        #expect(!EntryHeader.hasType(Array("public".utf8), encoded: bytes), "the classification is not the type")
        for cut in 0..<bytes.count {
            let short = Array(bytes.prefix(cut))
            #expect(!EntryHeader.hasType(Array("progress.reading".utf8), encoded: short) || cut >= 1 + 1 + 5 + 16 + 1 + 16)
            _ = EntryHeader.payloadCommitment(encoded: short)
        }
        #expect(EntryHeader.payloadCommitment(encoded: [1, 2, 3]) == nil)
    }

    @Test func decodingRefusesAnythingElse() throws {
        let bytes = try Self.header.encoded()
        for cut in 0..<bytes.count {
            #expect(throws: LedgerError.self, "truncated at \(cut)") { try EntryHeader(decoding: Array(bytes.prefix(cut))) }
        }
        #expect(throws: LedgerError.self) { try EntryHeader(decoding: bytes + [0]) }
        var version = bytes
        version[0] = 2
        let error = #expect(throws: LedgerError.self) { try EntryHeader(decoding: version) }
        #expect(error?.message.contains("format version 2") == true)
        var upper = bytes
        upper[2] = UInt8(ascii: "W")
        #expect(throws: LedgerError.self) { try EntryHeader(decoding: upper) }
    }

    @Test func fieldsAreValidatedByName() {
        func message(_ change: (inout EntryHeader) -> Void) -> String? {
            var header = Self.header
            change(&header)
            do { _ = try header.encoded(); return nil } catch { return error.message }
        }
        #expect(message { $0.log = "" }?.hasPrefix("log:") == true)
        #expect(message { $0.log = "Wales" }?.hasPrefix("log:") == true)
        #expect(message { $0.type = "progress reading" }?.hasPrefix("type:") == true)
        #expect(message { $0.classification = String(repeating: "a", count: 65) }?.hasPrefix("classification:") == true)
        #expect(message { $0.author = "line\nbreak" }?.hasPrefix("author:") == true)
        #expect(message { $0.payloadLength = UInt32(EntryHeader.maxPayloadLength + 1) }?.hasPrefix("payload:") == true)
        #expect(message { $0.classification = "heiw:workforce.bands" } == nil)
    }
}

@Suite struct EntryTests {
    static let salt = [UInt8](repeating: 7, count: 32)

    @Test func commitmentIsSaltedAndVerified() throws {
        let payload = Array(#"{"status":"on-track"}"#.utf8)
        let a = try Entry(log: "wales", index: 0, timeMillis: 1, type: "progress.status", classification: "public",
                          author: "", payload: payload, salt: try SecureRandom.bytes(count: 32))
        let b = try Entry(log: "wales", index: 0, timeMillis: 1, type: "progress.status", classification: "public",
                          author: "", payload: payload, salt: try SecureRandom.bytes(count: 32))
        // The same guessable payload gives unrelated commitments: a header alone reveals nothing.
        #expect(a.header.payloadCommitment != b.header.payloadCommitment)
        #expect(a.header.payloadCommitment != Hash.leaf(payload))
        #expect(a.header.payloadCommitment.bytes == SHA256.hash(a.payload!.salt + payload))
        #expect(a.leafHash == Hash.leaf(a.headerBytes))

        let reread = try Entry(headerBytes: a.headerBytes, payload: a.payload)
        #expect(reread == a)
        let stub = try Entry(headerBytes: a.headerBytes, payload: nil)
        #expect(stub.isStub && stub.leafHash == a.leafHash && stub == a.stub)

        let forged = try EntryPayload(salt: a.payload!.salt, bytes: Array(#"{"status":"off-track"}"#.utf8))
        #expect(throws: LedgerError.self) { try Entry(headerBytes: a.headerBytes, payload: forged) }
        let wrongSalt = try EntryPayload(salt: Self.salt, bytes: payload)
        #expect(throws: LedgerError.self) { try Entry(headerBytes: a.headerBytes, payload: wrongSalt) }
    }

    @Test func saltMustBe32Bytes() {
        #expect(throws: LedgerError.self) {
            try Entry(log: "wales", index: 0, timeMillis: 1, type: "t", classification: "public", author: "", payload: [], salt: [1, 2])
        }
    }
}

@Suite struct JSONValidatorTests {
    @Test func acceptsObjects() throws {
        for text in [#"{}"#, #" {"a":1} "#, #"{"a":[1,2.5e-3,-0,true,false,null,"x\"\u00e9\n"],"b":{"c":{}}}"#, "{\"é\":\"ü\"}"] {
            try JSONValidator.validateObject(Array(text.utf8))
        }
    }

    @Test func refusesOthersNamingWhere() {
        let cases: [(String, String)] = [
            ("[1]", "got an array"), ("\"s\"", "got a string"), ("42", "got a number"), ("null", "got null"),
            ("true", "got a boolean"), ("", "empty"), ("{", "byte 1"), (#"{"a" 1}"#, "byte 5"),
            (#"{"a":1,}"#, "byte 7"), (#"{"a":01}"#, "leading zeros"), (#"{"a":1} x"#, "after the JSON object"),
            (#"{'a':1}"#, "byte 1"), ("{\"a\":\"\u{1}\"}", "control character"), (#"{"a":tru}"#, "expected true"),
            (#"{"a":"\x"}"#, "invalid escape"), (#"{"a":1.}"#, "after '.'"),
        ]
        for (text, fragment) in cases {
            do {
                try JSONValidator.validateObject(Array(text.utf8))
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.message.contains(fragment), "\(text): \(error.message)")
            }
        }
        #expect(throws: LedgerError.self) { try JSONValidator.validateObject([0x7B, 0xFF, 0x7D]) }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: LedgerError.self) { try JSONValidator.validateObject(Array("{\"a\":\(deep)}".utf8)) }
    }

    /// UTF-8 is checked in the scanning pass: each kind of bad sequence inside a string is
    /// refused at its byte, and every well-formed one (up to four bytes) is taken.
    @Test func refusesBadUTF8InStringsNamingWhere() throws {
        let bad: [[UInt8]] = [
            [0x80], [0xBF], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0xAF],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC3, 0x41],
        ]
        for sequence in bad {
            let body: [UInt8] = Array(#"{"ab":"x"#.utf8) + sequence + Array(#"y"}"#.utf8)
            let error = #expect(throws: LedgerError.self, "\(sequence)") { try JSONValidator.validateObject(body) }
            #expect(error?.message.contains("at byte 8: not valid UTF-8") == true, "\(sequence): \(error?.message ?? "")")
        }
        for text in ["é", "€", "𝄞", "😀", "\u{10FFFF}", "\u{FFFD}", "\u{D7FF}", "\u{E000}"] {
            try JSONValidator.validateObject(Array(#"{"a":"x\#(text)y"}"#.utf8))
        }
    }

    /// Against the standard library's UTF-8 check, on random bytes inside a string: the one
    /// pass accepts exactly what `String(validating:)` accepts.
    @Test func agreesWithTheStandardLibrarysUTF8Check() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...6, using: &generator)
            // No quote, backslash or control byte: only the UTF-8 decides.
            let inner = (0..<count).map { _ in UInt8.random(in: 0x20...0xFF, using: &generator) }.filter { $0 != 0x22 && $0 != 0x5C && $0 != 0x7F }
            let body: [UInt8] = Array(#"{"a":""#.utf8) + inner + Array(#""}"#.utf8)
            let accepted = (try? JSONValidator.validateObject(body)) != nil
            #expect(accepted == (String(validating: body, as: UTF8.self) != nil), "\(inner)")
        }
    }
}

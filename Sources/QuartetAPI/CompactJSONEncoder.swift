import Foundation

/// Encodes the API's `Encodable` types as compact JSON with sorted keys and unescaped slashes:
/// byte for byte the form the node wrote before the types existed (its dictionary writer), so the
/// wire did not change. Non-ASCII is written as UTF-8; control characters as `\u00XX` (`\n`,
/// `\r`, `\t` short); whole doubles below 10^15 as integers; non-finite doubles as `null`.
///
/// It builds a small tree and writes it once, without `JSONEncoder`'s options and bridging; see
/// docs/architecture.md ("The API's contract") for the measured cost on the append path.
public enum CompactJSONEncoder {
    /// The JSON bytes of `value`. Only a type whose `encode(to:)` throws makes this throw.
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = TreeEncoder(codingPath: [])
        try value.encode(to: encoder)
        var out: [UInt8] = []
        out.reserveCapacity(512)
        (encoder.root ?? .literal("null")).write(to: &out)
        return out
    }

    /// As `encode`, as `Data`.
    public static func data<T: Encodable>(_ value: T) throws -> Data { Data(try encode(value)) }
}

/// A JSON value under construction: containers are references so nested containers handed
/// out by the `Encoder` API can be filled after they are attached.
enum JSONTree {
    case literal(String)
    case string(String)
    case object(ObjectBox)
    case array(ArrayBox)

    final class ObjectBox { var members: [String: JSONTree] = [:] }
    final class ArrayBox { var items: [JSONTree] = [] }

    func write(to out: inout [UInt8]) {
        switch self {
        case .literal(let text): out.append(contentsOf: text.utf8)
        case .string(let text): Self.writeString(text, to: &out)
        case .object(let box):
            out.append(UInt8(ascii: "{"))
            for (i, key) in box.members.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                Self.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                box.members[key]!.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let box):
            out.append(UInt8(ascii: "["))
            for (i, item) in box.items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(b)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(b)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func number(_ d: Double) -> JSONTree {
        if !d.isFinite { return .literal("null") }
        if d == d.rounded(), abs(d) < 1e15 { return .literal(String(Int64(d))) }
        return .literal("\(d)")
    }
}

/// The `Encoder` behind `CompactJSONEncoder`: a value sets `root` once (a single value or a
/// container).
final class TreeEncoder: Encoder {
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var root: JSONTree?

    init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object(let box)? = root { return KeyedEncodingContainer(KeyedTree(box: box, codingPath: codingPath)) }
        let box = JSONTree.ObjectBox()
        root = .object(box)
        return KeyedEncodingContainer(KeyedTree(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array(let box)? = root { return UnkeyedTree(box: box, codingPath: codingPath) }
        let box = JSONTree.ArrayBox()
        root = .array(box)
        return UnkeyedTree(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleTree(encoder: self) }

    /// The tree of a nested value.
    static func tree<T: Encodable>(_ value: T, at path: [any CodingKey]) throws -> JSONTree {
        switch value {
        case let s as String: return .string(s)
        case let b as Bool: return .literal(b ? "true" : "false")
        case let i as Int: return .literal(String(i))
        case let i as UInt64: return .literal(String(i))
        case let i as Int64: return .literal(String(i))
        case let d as Double: return JSONTree.number(d)
        default:
            let encoder = TreeEncoder(codingPath: path)
            try value.encode(to: encoder)
            return encoder.root ?? .literal("null")
        }
    }
}

struct KeyedTree<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: JSONTree.ObjectBox
    var codingPath: [any CodingKey]

    func put(_ tree: JSONTree, _ key: Key) { box.members[key.stringValue] = tree }
    mutating func encodeNil(forKey key: Key) throws { put(.literal("null"), key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.literal(value ? "true" : "false"), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(JSONTree.number(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(JSONTree.number(Double(value)), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(.literal(String(value)), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.members[key.stringValue] = try TreeEncoder.tree(value, at: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = JSONTree.ObjectBox()
        box.members[key.stringValue] = .object(nested)
        return KeyedEncodingContainer(KeyedTree<NestedKey>(box: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = JSONTree.ArrayBox()
        box.members[key.stringValue] = .array(nested)
        return UnkeyedTree(box: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { SlotEncoder(codingPath: codingPath) { [box] in box.members["super"] = $0 } }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        SlotEncoder(codingPath: codingPath + [key]) { [box] in box.members[key.stringValue] = $0 }
    }
}

struct UnkeyedTree: UnkeyedEncodingContainer, ScalarTreeSink {
    let box: JSONTree.ArrayBox
    var codingPath: [any CodingKey]
    var count: Int { box.items.count }

    func put(_ tree: JSONTree) { box.items.append(tree) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        box.items.append(try TreeEncoder.tree(value, at: codingPath + [IndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = JSONTree.ObjectBox()
        box.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedTree<NestedKey>(box: nested, codingPath: codingPath + [IndexKey(count - 1)]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = JSONTree.ArrayBox()
        box.items.append(.array(nested))
        return UnkeyedTree(box: nested, codingPath: codingPath + [IndexKey(count - 1)])
    }

    mutating func superEncoder() -> any Encoder {
        let index = box.items.count
        box.items.append(.literal("null"))
        return SlotEncoder(codingPath: codingPath + [IndexKey(index)]) { [box] in box.items[index] = $0 }
    }
}

struct SingleTree: SingleValueEncodingContainer, ScalarTreeSink {
    let encoder: TreeEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    func put(_ tree: JSONTree) { encoder.root = tree }
    mutating func encode<T: Encodable>(_ value: T) throws { encoder.root = try TreeEncoder.tree(value, at: codingPath) }
}

/// An encoder whose value lands in a slot of its parent when it is set (for `superEncoder`).
/// The scalar encodes of the unkeyed and single-value containers: each puts one tree.
protocol ScalarTreeSink {
    func put(_ tree: JSONTree)
}

extension ScalarTreeSink {
    mutating func encodeNil() throws { put(.literal("null")) }
    mutating func encode(_ value: Bool) throws { put(.literal(value ? "true" : "false")) }
    mutating func encode(_ value: String) throws { put(.string(value)) }
    mutating func encode(_ value: Double) throws { put(JSONTree.number(value)) }
    mutating func encode(_ value: Float) throws { put(JSONTree.number(Double(value))) }
    mutating func encode(_ value: Int) throws { put(.literal(String(value))) }
    mutating func encode(_ value: Int8) throws { put(.literal(String(value))) }
    mutating func encode(_ value: Int16) throws { put(.literal(String(value))) }
    mutating func encode(_ value: Int32) throws { put(.literal(String(value))) }
    mutating func encode(_ value: Int64) throws { put(.literal(String(value))) }
    mutating func encode(_ value: UInt) throws { put(.literal(String(value))) }
    mutating func encode(_ value: UInt8) throws { put(.literal(String(value))) }
    mutating func encode(_ value: UInt16) throws { put(.literal(String(value))) }
    mutating func encode(_ value: UInt32) throws { put(.literal(String(value))) }
    mutating func encode(_ value: UInt64) throws { put(.literal(String(value))) }
}

final class SlotEncoder: Encoder {
    let inner: TreeEncoder
    let store: (JSONTree) -> Void
    var codingPath: [any CodingKey] { inner.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(codingPath: [any CodingKey], store: @escaping (JSONTree) -> Void) {
        inner = TreeEncoder(codingPath: codingPath)
        self.store = store
    }

    deinit { store(inner.root ?? .literal("null")) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { inner.container(keyedBy: type) }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { inner.unkeyedContainer() }
    func singleValueContainer() -> any SingleValueEncodingContainer { inner.singleValueContainer() }
}

struct IndexKey: CodingKey {
    var stringValue: String { String(intValue!) }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

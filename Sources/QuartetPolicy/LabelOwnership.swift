import Foundation

/// Which data owner each label belongs to, as the federation file pins it: exact labels, or
/// prefixes written `name.*` (`heiw.*` covers `heiw.workforce.headcount`). A label belongs to at
/// most one owner (the federation file is refused otherwise).
public struct LabelOwnership: Sendable, Equatable {
    /// Patterns by owner id.
    public let patterns: [String: [String]]

    public init(_ patterns: [String: [String]]) throws(PolicyError) {
        for (owner, list) in patterns {
            for pattern in list {
                guard Self.isValid(pattern) else { throw PolicyError("owner \(owner): \"\(pattern)\" is not a label or a label prefix ending in .*") }
                for (other, otherList) in patterns where other != owner {
                    if let clash = otherList.first(where: { Self.overlaps($0, pattern) }) {
                        throw PolicyError("labels \"\(pattern)\" of \(owner) and \"\(clash)\" of \(other) overlap; a label belongs to one data owner")
                    }
                }
            }
        }
        self.patterns = patterns
    }

    /// The owner of `label`, if any.
    public func owner(of label: String) -> String? {
        patterns.first { $0.value.contains { Self.matches($0, label) } }?.key
    }

    static func isValid(_ pattern: String) -> Bool {
        let body = pattern.hasSuffix(".*") ? String(pattern.dropLast(2)) : pattern
        return !body.isEmpty && body.utf8.count <= 128 && body != "public"
            && body.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 || $0 == 95 }
    }

    static func matches(_ pattern: String, _ label: String) -> Bool {
        pattern.hasSuffix(".*") ? label.hasPrefix(String(pattern.dropLast(1))) : label == pattern
    }

    static func overlaps(_ a: String, _ b: String) -> Bool {
        let pa = a.hasSuffix(".*") ? String(a.dropLast(1)) : nil, pb = b.hasSuffix(".*") ? String(b.dropLast(1)) : nil
        switch (pa, pb) {
        case (nil, nil): return a == b
        case (let p?, nil): return b.hasPrefix(p)
        case (nil, let p?): return a.hasPrefix(p)
        case (let p?, let q?): return p.hasPrefix(q) || q.hasPrefix(p)
        }
    }
}

import CYaml
import Foundation

/// What a plan, catalogue or targets file may hold before Yams composes it: plain YAML with
/// no anchors or aliases (the seed files use none). Composing with aliases costs what their
/// expansion costs even where nothing counts it yet — Yams hashes each mapping's keys to refuse
/// duplicates, and a key that is an alias of aliases hashes its whole expansion — so a file of a
/// few hundred bytes could hold an import for hours before `PlanFiles.fits` counted anything.
/// libyaml's scanner reads the text once, token by token, in constant memory.
enum YAMLShape {
    /// Nil if `text` holds no anchor or alias (or does not scan: Yams says why when it composes
    /// it), else where the first one is, as "line L, column C".
    static func firstAnchorOrAlias(_ text: String) -> String? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> String? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            while true {
                var token = yaml_token_t()
                guard yaml_parser_scan(&parser, &token) == 1 else { return nil }
                defer { yaml_token_delete(&token) }
                switch token.type {
                case YAML_ANCHOR_TOKEN, YAML_ALIAS_TOKEN:
                    return "line \(token.start_mark.line + 1), column \(token.start_mark.column + 1)"
                case YAML_STREAM_END_TOKEN, YAML_NO_TOKEN:
                    return nil
                default:
                    continue
                }
            }
        }
    }
}

import CYaml
import Foundation

/// What a plan, catalogue or targets file may hold before Yams composes it: plain YAML with
/// no anchors or aliases (the seed files use none), nested at most `maxFlowDepth` brackets deep.
/// Composing with aliases costs what their expansion costs even where nothing counts it yet —
/// Yams hashes each mapping's keys to refuse duplicates, and a key that is an alias of aliases
/// hashes its whole expansion — so a file of a few hundred bytes could hold an import for hours
/// before `PlanImport.fits` counted anything. libyaml's scanner reads the text once, token by
/// token; it keeps one possible key per open `[` or `{` and walks them all at every token, so the
/// scan stops at the depth Yams's parser refuses anyway (a file of 4 MiB of `[` would otherwise
/// cost the square of its length).
enum YAMLShape {
    enum Finding: Equatable {
        /// An anchor (`&a`) or alias (`*a`), at "line L, column C".
        case anchorOrAlias(String)
        /// Brackets nested deeper than `maxFlowDepth`, at "line L, column C" (of the token the
        /// scanner was returning when it had read that deep: it reads up to 1,024 characters
        /// ahead of the token it returns).
        case tooDeep(String)
    }

    /// libyaml's parser refuses nesting past 1,000 (`MAX_NESTING_LEVEL`).
    static let maxFlowDepth = 1000

    /// The first thing in `text` that is refused before composing; nil when there is none (or
    /// the text does not scan: Yams says why when it composes it).
    static func refusal(_ text: String) -> Finding? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> Finding? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            while true {
                var token = yaml_token_t()
                guard yaml_parser_scan(&parser, &token) == 1 else { return nil }
                defer { yaml_token_delete(&token) }
                var at: String { "line \(token.start_mark.line + 1), column \(token.start_mark.column + 1)" }
                if parser.flow_level > Int32(maxFlowDepth) { return .tooDeep(at) }
                switch token.type {
                case YAML_ANCHOR_TOKEN, YAML_ALIAS_TOKEN:
                    return .anchorOrAlias(at)
                case YAML_STREAM_END_TOKEN, YAML_NO_TOKEN:
                    return nil
                default:
                    continue
                }
            }
        }
    }
}

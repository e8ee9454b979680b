import ArgumentParser
import Foundation
import QuartetCrypto
import QuartetNode

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Bearer tokens for a node's API.", subcommands: [TokenNew.self])
}

struct TokenNew: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Make a random bearer token; print it once, and the line for the node configuration's \"tokens\" (its SHA-256 only).")
    @Option(help: "Who holds it (a-z, 0-9, '-').") var name: String
    @Option(help: "reader, operator (of the node's own log) or auditor.") var role: String
    @Option(help: "The node whose configuration takes it: the token is then qt_<node>_…, says where it belongs, is refused by every other node, and no other node's sign-in page sends it. Required for an operator's token; for a reader's or auditor's token that several nodes take, leave it out.")
    var node: String?
    @OptionGroup var output: FormatOptions

    func run() throws {
        guard ["reader", "operator", "auditor"].contains(role) else { throw ValidationError("--role must be reader, operator or auditor") }
        // The configuration refuses other names; checked here too, since the name goes into
        // the line printed for it.
        guard FederationPKI.isValidNodeID(name) else { throw ValidationError("--name must be a-z, 0-9 and '-' (found \"\(name.debugDescription.dropFirst().dropLast())\")") }
        // An operator's token writes the node's own log: it belongs to that node alone.
        guard role != "operator" || node != nil else { throw ValidationError("--node: an operator's token is for one node (the node whose log it writes): give --node ID") }
        if let node, !FederationPKI.isValidNodeID(node) { throw ValidationError("--node must be a node id: a-z, 0-9 and '-' (found \"\(node.debugDescription.dropFirst().dropLast())\")") }
        let token = try TokenGrant.newToken(node: node)
        let hash = TokenGrant.hex(TokenGrant.digest(token))
        switch output.format {
        case .json: printJSON(NewTokenOutput(token: token, node: node, config: .init(name: name, role: role, sha256: hash)))
        case .text:
            print("token (shown once; give it to \(name)): \(token)")
            // Encoded, not interpolated: the line is JSON an operator pastes into a configuration.
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let line = try encoder.encode(NewTokenOutput.Grant(name: name, role: role, sha256: hash))
            print("add to the node configuration's \"tokens\": \(String(decoding: line, as: UTF8.self))")
        }
    }
}

/// `quartet token new --format json`: the token (shown once) and its configuration line.
struct NewTokenOutput: Encodable {
    struct Grant: Encodable { var name, role, sha256: String }
    var token: String
    /// The node it was made for (`--node`), or nil: a token of no one node.
    var node: String?
    var config: Grant
}

import ArgumentParser
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
    @OptionGroup var output: FormatOptions

    func run() throws {
        guard ["reader", "operator", "auditor"].contains(role) else { throw ValidationError("--role must be reader, operator or auditor") }
        let token = try TokenGrant.newToken()
        let hash = TokenGrant.hex(TokenGrant.digest(token))
        switch output.format {
        case .json: printJSON(NewTokenOutput(token: token, config: .init(name: name, role: role, sha256: hash)))
        case .text:
            print("token (shown once; give it to \(name)): \(token)")
            print("add to the node configuration's \"tokens\": {\"name\": \"\(name)\", \"role\": \"\(role)\", \"sha256\": \"\(hash)\"}")
        }
    }
}

/// `quartet token new --format json`: the token (shown once) and its configuration line.
struct NewTokenOutput: Encodable {
    struct Grant: Encodable { var name, role, sha256: String }
    var token: String
    var config: Grant
}

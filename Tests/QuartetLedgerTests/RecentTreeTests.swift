@testable import QuartetLedger
import Testing

/// Consistency proofs from a frontier and the leaves after it are the proofs the whole tree
/// gives, for every pair of sizes among the kept leaves; outside them, or after a gap, none.
@Suite struct RecentTreeTests {
    static let leaves = (0..<300).map { Hash.leaf([UInt8($0 & 0xff), UInt8($0 >> 8)]) }

    static func frontier(_ size: Int) -> MerkleFrontier {
        var frontier = MerkleFrontier()
        for leaf in leaves.prefix(size) { frontier.append(leaf) }
        return frontier
    }

    /// The proof and root the whole list of leaves gives.
    static func expected(from m: UInt64, to n: UInt64) throws -> (proof: [Hash], root: Hash) {
        let prefix = Array(leaves.prefix(Int(n)))
        let proof = try Merkle.consistencyProof(from: m, to: n) { level, index in try Merkle.subtreeHash(of: prefix, level: level, index: index) }
        return (proof, Merkle.root(ofLeaves: prefix))
    }

    @Test(arguments: [0, 1, 5, 64, 77])
    func everyProofAmongTheKeptLeavesIsTheWholeTreesProof(base: Int) throws {
        var tree = RecentTree(frontier: Self.frontier(base))
        // Batches of 1 to 7 leaves, as commits come.
        var next = base
        while next < 200 {
            let count = min(1 + next % 7, 200 - next)
            tree.committed(from: UInt64(next), leaves: Array(Self.leaves[next..<next + count]), after: Self.frontier(next + count))
            next += count
        }
        #expect(tree.size == 200 && tree.leaves.count == 200 - base)
        for m in stride(from: base, through: 200, by: 3) {
            for n in stride(from: m, through: 200, by: 7) {
                let made = try #require(tree.proof(from: UInt64(m), to: UInt64(n)), "\(m) → \(n)")
                let whole = try Self.expected(from: UInt64(m), to: UInt64(n))
                #expect(made.proof == whole.proof && made.root == whole.root, "\(m) → \(n)")
            }
        }
        // Below the base, or beyond the leaves: none (the caller reads the store).
        if base > 0 { #expect(tree.proof(from: UInt64(base - 1), to: 200) == nil) }
        #expect(tree.proof(from: UInt64(base), to: 201) == nil)
        #expect(tree.proof(from: 150, to: 149) == nil)
    }

    @Test func aGapStartsAgainFromTheNewestFrontier() {
        var tree = RecentTree(frontier: Self.frontier(10))
        tree.committed(from: 10, leaves: Array(Self.leaves[10..<12]), after: Self.frontier(12))
        // A batch from 13 (12 missed): the tree starts at 15, the batch's end.
        tree.committed(from: 13, leaves: Array(Self.leaves[13..<15]), after: Self.frontier(15))
        #expect(tree.base == Self.frontier(15) && tree.leaves.isEmpty)
        #expect(tree.proof(from: 12, to: 15) == nil)
        // A frontier that is not the batch's end also starts again.
        tree.committed(from: 15, leaves: [Self.leaves[15]], after: Self.frontier(17))
        #expect(tree.base == Self.frontier(17) && tree.leaves.isEmpty)
    }

    @Test func advancingForgetsTheLeavesBelowAndKeepsTheProofsAbove() throws {
        var tree = RecentTree(frontier: Self.frontier(3))
        tree.committed(from: 3, leaves: Array(Self.leaves[3..<40]), after: Self.frontier(40))
        tree.advance(to: 21)
        #expect(tree.base == Self.frontier(21) && tree.leaves.count == 19)
        #expect(tree.proof(from: 20, to: 40) == nil)
        let made = try #require(tree.proof(from: 21, to: 40))
        #expect(made.proof == (try Self.expected(from: 21, to: 40)).proof)
        // Outside the kept leaves: nothing moves.
        tree.advance(to: 41)
        tree.advance(to: 10)
        #expect(tree.base == Self.frontier(21) && tree.size == 40)
    }

    @Test func moreLeavesThanItKeepsStartsAgain() {
        var tree = RecentTree()
        let many = [Hash](repeating: Self.leaves[0], count: RecentTree.maxLeaves)
        var frontier = MerkleFrontier()
        for leaf in many { frontier.append(leaf) }
        tree.committed(from: 0, leaves: many, after: frontier)
        #expect(tree.leaves.count == RecentTree.maxLeaves)
        var after = frontier
        after.append(Self.leaves[1])
        tree.committed(from: UInt64(RecentTree.maxLeaves), leaves: [Self.leaves[1]], after: after)
        #expect(tree.base == after && tree.leaves.isEmpty)
    }
}

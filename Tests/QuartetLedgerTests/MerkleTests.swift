import QuartetLedger
import QuartetTestKit
import Testing

func h(_ hex: String) -> Hash { try! Hash(Hex.decode(hex)!) }

/// RFC 6962 PATH and SUBPROOF written directly from the RFC's recursive definitions over a list
/// of leaves, as an independent reference for the store-backed implementation.
enum Reference {
    static func mth(_ d: ArraySlice<Hash>) -> Hash {
        if d.isEmpty { return .emptyTree }
        if d.count == 1 { return d.first! }
        var k = 1
        while k * 2 < d.count { k *= 2 }
        return .node(mth(d.prefix(k)), mth(d.dropFirst(k)))
    }

    static func path(_ m: Int, _ d: ArraySlice<Hash>) -> [Hash] {
        if d.count <= 1 { return [] }
        var k = 1
        while k * 2 < d.count { k *= 2 }
        if m < k { return path(m, d.prefix(k)) + [mth(d.dropFirst(k))] }
        return path(m - k, d.dropFirst(k)) + [mth(d.prefix(k))]
    }

    static func subproof(_ m: Int, _ d: ArraySlice<Hash>, _ b: Bool) -> [Hash] {
        if m == d.count { return b ? [] : [mth(d)] }
        var k = 1
        while k * 2 < d.count { k *= 2 }
        if m <= k { return subproof(m, d.prefix(k), b) + [mth(d.dropFirst(k))] }
        return subproof(m - k, d.dropFirst(k), false) + [mth(d.prefix(k))]
    }
}

@Suite struct MerkleVectorTests {
    // Certificate Transparency's RFC 6962 test data (also in transparency-dev/merkle).
    static let leafData = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
    static let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
    static var leaves: [Hash] { leafData.map { Hash.leaf(Hex.decode($0)!) } }
    static func source(_ leaves: [Hash]) -> Merkle.SubtreeHashes {
        { level, index in try Merkle.subtreeHash(of: leaves, level: level, index: index) }
    }

    @Test func rootsMatchPublishedVectors() {
        #expect(Merkle.root(ofLeaves: []).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        for n in 1...8 {
            #expect(Merkle.root(ofLeaves: Array(Self.leaves.prefix(n))).hex == Self.roots[n - 1], "size \(n)")
            var frontier = MerkleFrontier()
            for leaf in Self.leaves.prefix(n) { frontier.append(leaf) }
            #expect(frontier.root.hex == Self.roots[n - 1], "frontier size \(n)")
        }
    }

    @Test func inclusionProofsMatchPublishedVectors() throws {
        let cases: [(UInt64, UInt64, [String])] = [
            (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
            (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
            (0, 1, []),
        ]
        let leaves = Self.leaves
        for (index, size, expected) in cases {
            let proof = try Merkle.inclusionProof(index: index, size: size, subtree: Self.source(leaves))
            #expect(proof.map(\.hex) == expected, "index \(index) size \(size)")
            try Merkle.verifyInclusion(index: index, size: size, leaf: leaves[Int(index)], proof: proof, root: h(Self.roots[Int(size) - 1]))
        }
    }

    @Test func consistencyProofsMatchPublishedVectors() throws {
        let cases: [(UInt64, UInt64, [String])] = [
            (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
            (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
            (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
        ]
        for (from, to, expected) in cases {
            let proof = try Merkle.consistencyProof(from: from, to: to, subtree: Self.source(Self.leaves))
            #expect(proof.map(\.hex) == expected, "from \(from) to \(to)")
            try Merkle.verifyConsistency(from: from, to: to, firstRoot: h(Self.roots[Int(from) - 1]), secondRoot: h(Self.roots[Int(to) - 1]), proof: proof)
        }
    }
}

@Suite struct MerkleExhaustiveTests {
    static let maxSize = 70
    static let leaves = TestKit.leaves(maxSize)
    static let roots: [Hash] = (0...maxSize).map { Reference.mth(leaves.prefix($0)) }
    static func source(_ level: Int, _ index: UInt64) throws -> Hash { try Merkle.subtreeHash(of: leaves, level: level, index: index) }

    @Test func frontierMatchesReferenceAndReportsEverySubtree() throws {
        var frontier = MerkleFrontier()
        for n in 1...Self.maxSize {
            var completed: [(Int, UInt64, Hash)] = []
            frontier.append(Self.leaves[n - 1]) { completed.append(($0, $1, $2)) }
            #expect(frontier.root == Self.roots[n])
            for (level, index, hash) in completed {
                #expect(hash == (try Merkle.subtreeHash(of: Self.leaves, level: level, index: index)))
            }
            // A leaf completes one subtree per trailing one bit of its index, plus itself.
            #expect(completed.count == (~(n - 1)).trailingZeroBitCount + 1)
            #expect(try MerkleFrontier(size: UInt64(n), subtree: Self.source) == frontier)
        }
    }

    @Test func everyInclusionProofUpTo70() throws {
        for size in 1...Self.maxSize {
            for index in 0..<size {
                let proof = try Merkle.inclusionProof(index: UInt64(index), size: UInt64(size), subtree: Self.source)
                #expect(proof == Reference.path(index, Self.leaves.prefix(size)))
                try Merkle.verifyInclusion(index: UInt64(index), size: UInt64(size), leaf: Self.leaves[index], proof: proof, root: Self.roots[size])
            }
        }
    }

    @Test func everyConsistencyProofUpTo70() throws {
        for to in 1...Self.maxSize {
            for from in 0...to {
                let proof = try Merkle.consistencyProof(from: UInt64(from), to: UInt64(to), subtree: Self.source)
                if from > 0 && from < to {
                    #expect(proof == Reference.subproof(from, Self.leaves.prefix(to), true))
                } else {
                    #expect(proof.isEmpty)
                }
                try Merkle.verifyConsistency(from: UInt64(from), to: UInt64(to), firstRoot: Self.roots[from], secondRoot: Self.roots[to], proof: proof)
            }
        }
    }

    @Test func tamperedInclusionProofsAreAlwaysRejected() throws {
        for size in 1...40 {
            for index in 0..<size {
                let n = UInt64(size), i = UInt64(index)
                let proof = try Merkle.inclusionProof(index: i, size: n, subtree: Self.source)
                let leaf = Self.leaves[index], root = Self.roots[size]
                func rejects(_ i: UInt64, _ n: UInt64, _ leaf: Hash, _ proof: [Hash], _ root: Hash, _ what: String) {
                    #expect(throws: LedgerError.self, "\(what) accepted: index \(index) size \(size)") {
                        try Merkle.verifyInclusion(index: i, size: n, leaf: leaf, proof: proof, root: root)
                    }
                }
                rejects(i, n, Self.leaves[(index + 1) % Self.maxSize], proof, root, "another leaf")
                rejects(i, n, leaf, proof, Self.roots[size - 1], "another root")
                // The root binds the size only through the signed checkpoint, so a changed size is
                // tested as an attacker would claim it: with the root of that other size.
                if size < Self.maxSize { rejects(i, n + 1, leaf, proof, Self.roots[size + 1], "a larger size") }
                if index < size - 1 { rejects(i, n - 1, leaf, proof, Self.roots[size - 1], "a smaller size") }
                if index + 1 < size { rejects(i + 1, n, leaf, proof, root, "the next index") }
                if index > 0 { rejects(i - 1, n, leaf, proof, root, "the previous index") }
                for k in proof.indices {
                    var bad = proof
                    var bytes = bad[k].bytes
                    bytes[k % 32] ^= 0x40
                    bad[k] = try Hash(bytes)
                    rejects(i, n, leaf, bad, root, "a changed proof hash \(k)")
                }
                if !proof.isEmpty { rejects(i, n, leaf, Array(proof.dropLast()), root, "a truncated proof") }
                rejects(i, n, leaf, proof + [leaf], root, "an extended proof")
            }
        }
    }

    @Test func tamperedConsistencyProofsAreAlwaysRejected() throws {
        for to in 2...40 {
            for from in 1..<to {
                let m = UInt64(from), n = UInt64(to)
                let proof = try Merkle.consistencyProof(from: m, to: n, subtree: Self.source)
                func rejects(_ m: UInt64, _ n: UInt64, _ r1: Hash, _ r2: Hash, _ p: [Hash], _ what: String) {
                    #expect(throws: LedgerError.self, "\(what) accepted: \(from) to \(to)") {
                        try Merkle.verifyConsistency(from: m, to: n, firstRoot: r1, secondRoot: r2, proof: p)
                    }
                }
                rejects(m, n, Self.roots[from + 1], Self.roots[to], proof, "another first root")
                rejects(m, n, Self.roots[from], Self.roots[to - 1], proof, "another second root")
                rejects(m, n + 1, Self.roots[from], Self.roots[to + 1], proof, "a larger second size")
                rejects(m + 1, n, Self.roots[from + 1], Self.roots[to], proof, "a larger first size")
                for k in proof.indices {
                    var bad = proof
                    var bytes = bad[k].bytes
                    bytes[(k * 7) % 32] ^= 0x01
                    bad[k] = try Hash(bytes)
                    rejects(m, n, Self.roots[from], Self.roots[to], bad, "a changed proof hash \(k)")
                }
                rejects(m, n, Self.roots[from], Self.roots[to], Array(proof.dropLast()), "a truncated proof")
                rejects(m, n, Self.roots[from], Self.roots[to], proof + [Self.roots[1]], "an extended proof")
            }
        }
    }

    @Test func argumentsOutOfRangeAreErrors() {
        #expect(throws: LedgerError.self) { try Merkle.inclusionProof(index: 5, size: 5, subtree: Self.source) }
        #expect(throws: LedgerError.self) { try Merkle.consistencyProof(from: 6, to: 5, subtree: Self.source) }
        #expect(throws: LedgerError.self) {
            try Merkle.verifyConsistency(from: 3, to: 3, firstRoot: Self.roots[3], secondRoot: Self.roots[4], proof: [])
        }
    }
}

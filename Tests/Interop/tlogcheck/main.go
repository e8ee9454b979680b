// tlogcheck verifies Quartet's output with the Go reference implementations of signed notes
// and RFC 6962 proofs (golang.org/x/mod/sumdb/note and .../tlog, from Debian's
// golang-golang-x-mod-dev), which nobody on this project wrote.
//
// Input (stdin, JSON): {"vkey", "note", "inclusion": [proof JSON], "consistency": [proof JSON]}
// in the shapes `quartet proof ... --format json` prints. Output: one line per check.
// Exit status 1 on the first check that fails.
package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Index    int64    `json:"index"`
	Size     int64    `json:"size"`
	LeafHash string   `json:"leaf_hash"`
	Root     string   `json:"root"`
	Proof    []string `json:"proof"`
}

type consistency struct {
	From     int64    `json:"from"`
	To       int64    `json:"to"`
	FromRoot string   `json:"from_root"`
	Root     string   `json:"root"`
	Proof    []string `json:"proof"`
}

type input struct {
	VKey        string        `json:"vkey"`
	Note        string        `json:"note"`
	Inclusion   []inclusion   `json:"inclusion"`
	Consistency []consistency `json:"consistency"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL "+format+"\n", args...)
	os.Exit(1)
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func hashes(list []string) []tlog.Hash {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		out[i] = hash(s)
	}
	return out
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail("input: %v", err)
	}
	noteSize, noteRoot := int64(-1), ""
	if in.VKey != "" {
		verifier, err := note.NewVerifier(in.VKey)
		if err != nil {
			fail("vkey: %v", err)
		}
		n, err := note.Open([]byte(in.Note), note.VerifierList(verifier))
		if err != nil {
			fail("note: %v", err)
		}
		lines := strings.Split(n.Text, "\n")
		if len(lines) < 4 || lines[0] != verifier.Name() {
			fail("checkpoint: origin %q is not the key name %q", lines[0], verifier.Name())
		}
		size, err := strconv.ParseInt(lines[1], 10, 64)
		if err != nil {
			fail("checkpoint size: %v", err)
		}
		fmt.Printf("ok note %s size %d root %s\n", verifier.Name(), size, lines[2])
		noteSize, noteRoot = size, lines[2]
	}
	// A proof at the signed size must lead to the signed root, not just to a root it brings.
	checkRoot := func(size int64, root string, what string) {
		if size == noteSize && root != noteRoot {
			fail("%s: root %s is not the signed checkpoint's %s", what, root, noteRoot)
		}
	}
	for _, p := range in.Inclusion {
		checkRoot(p.Size, p.Root, fmt.Sprintf("inclusion index %d size %d", p.Index, p.Size))
		if err := tlog.CheckRecord(hashes(p.Proof), p.Size, hash(p.Root), p.Index, hash(p.LeafHash)); err != nil {
			fail("inclusion index %d size %d: %v", p.Index, p.Size, err)
		}
		fmt.Printf("ok inclusion %d %d\n", p.Index, p.Size)
	}
	for _, p := range in.Consistency {
		checkRoot(p.To, p.Root, fmt.Sprintf("consistency %d to %d", p.From, p.To))
		if err := tlog.CheckTree(hashes(p.Proof), p.To, hash(p.Root), p.From, hash(p.FromRoot)); err != nil {
			fail("consistency %d to %d: %v", p.From, p.To, err)
		}
		fmt.Printf("ok consistency %d %d\n", p.From, p.To)
	}
}

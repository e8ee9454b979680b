import QuartetPlan

// (Over ~350 lines: one JavaScript file, served whole as it is written here; its checks read
// each other's helpers, and the differential tests run it as one script.)

/// The one script of the web interface, served by the node at `/assets/verify.js`: it checks a
/// provenance page in the reader's browser, so the reader need not trust the node that
/// rendered it (docs/web.md). Written from the specs, sharing no code with the node:
/// - the checkpoint's signature: a C2SP signed note, Ed25519 over the note's text, checked with
///   WebCrypto against the verifier key (`name+hash+base64(0x01 || key)`; the key hash is the
///   first 4 bytes of SHA-256(name || "\n" || 0x01 || key));
/// - the checkpoint's body: origin, size, base64 root (C2SP tlog-checkpoint);
/// - each entry: its leaf hash SHA-256(0x00 || header) recomputed from the header bytes, the
///   header's log and index, the payload against the header's commitment SHA-256(salt ||
///   payload), and the RFC 9162 inclusion proof (section 2.1.3.2) recomputed to the signed root;
///   a verified row's type, time, author and content are then shown from the verified bytes.
/// - each checkpoint's cosignature lines (C2SP tlog-cosignature) against the witness keys the
///   federation file lists for the log's witnesses, and whether they make the quorum a default
///   `quartet policy` sets (a majority); a listed witness's line that does not verify fails.
/// - a checkpoint signed by a key other than the one the federation file pins: the log's
///   `key.rotation` entries the page carries (docs/formats.md), each checked as an entry
///   (header, payload, inclusion in the verified checkpoint) and its statement signed by the key
///   in force and by the new key, followed from the pinned key; they must end at the key that
///   signed the checkpoint.
/// A reader may instead give the page a C2SP tlog-policy file they hold (`quartet policy`): then
/// the log keys, witness keys and quorum come from that file alone, not from the node.
/// Everything it checks is in the page (`<script type=application/json id=provenance-data>`);
/// it fetches nothing, unless the reader asks it to read the page's logs whole ("Check the
/// whole logs"): then every entry of each up to its verified checkpoint, from this node's
/// `/v1/logs/{log}/entries`, each checked and all of them against the checkpoint's root, and the
/// figure recomputed from them. Each entry's row shows a tick or exactly which check failed.
/// (Over ~350 lines: one JavaScript file served whole to the browser; the checks it makes are
/// listed below in the order the page runs them. The policy parser is WebScript+Policy.swift.)
enum WebScript {
    /// The script: its helpers and checks, with the policy-file functions (WebScript+Policy.swift)
    /// in the same scope.
    static let verify = verifyStart + policyFunctions + verifyRest

    static let verifyStart = #"""
        "use strict";
        (function () {
          const enc = new TextEncoder();
          // Base64 as the node writes and reads it (RFC 4648, padded, nothing else): `atob`
          // alone also takes spaces, missing padding and stray bits, which the node refuses.
          function b64(s) {
            if (typeof s !== "string" || s.length % 4 !== 0 || !/^[A-Za-z0-9+\/]*={0,2}$/.test(s)) throw new Error("a value is not base64 as the node writes it (padded, without spaces)");
            const bin = atob(s);
            if (btoa(bin) !== s) throw new Error("a value is not base64 as the node writes it (its last digit holds stray bits)");
            const out = new Uint8Array(bin.length); for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i); return out;
          }
          function hex(u) { return Array.from(u, b => b.toString(16).padStart(2, "0")).join(""); }
          function concat(...parts) { let n = 0; for (const p of parts) n += p.length; const out = new Uint8Array(n); let o = 0; for (const p of parts) { out.set(p, o); o += p.length; } return out; }
          function equal(a, b) { if (a.length !== b.length) return false; for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false; return true; }
          async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)); }

          // A verifier key: name+hash+base64(type || 32-byte key); type 0x01 for a log's
          // Ed25519 key (signed-note), 0x04 for a witness's cosignature key (tlog-cosignature).
          async function parseVkey(vkey, type = 1) {
            // The name holds no "+", the hash is 8 hex digits; the base64 key may hold "+".
            const m = /^([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(vkey);
            if (!m) throw new Error("verifier key: expected name+hash+key");
            const [, name, hashHex, keyB64] = m;
            const raw = b64(keyB64);
            if (raw.length !== 33 || raw[0] !== type) throw new Error(type === 4 ? "witness key: not an Ed25519 cosignature key" : "verifier key: not an Ed25519 key");
            const key = raw.slice(1);
            // As the node refuses them (`Ed25519PublicKey.checkStrong`): a point of small order,
            // under which anyone can make signatures some verifiers take, or a y not below the
            // field prime (not the canonical encoding).
            const y = key.slice(); y[31] &= 0x7f;
            const smallOrder = ["00".repeat(32), "01" + "00".repeat(31), "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
                                "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", "ec" + "ff".repeat(30) + "7f", "ed" + "ff".repeat(30) + "7f", "ee" + "ff".repeat(30) + "7f"];
            if (smallOrder.includes(hex(y))) throw new Error("verifier key " + name + ": a point of small order, for which anyone can make signatures");
            if (y[31] === 0x7f && y.slice(1, 31).every(b => b === 0xff) && y[0] >= 0xed) throw new Error("verifier key " + name + ": not canonically encoded (its y is not below the field prime)");
            const id = (await sha256(concat(enc.encode(name + "\n"), new Uint8Array([type]), key))).slice(0, 4);
            if (hex(id) !== hashHex) throw new Error("verifier key: its hash does not match its name and key");
            return { name, id, key };
          }

          // A signed note: text, a blank line, then lines "— name base64(keyid(4) || signature)".
          // As strict as the node's parser (`SignedNote(parsing:)`, C2SP signed-note): a final
          // newline, no control character but newline, every line after the blank one a
          // signature line (an empty one refused, not skipped).
          function parseNote(note) {
            if (!note.endsWith("\n")) throw new Error("the checkpoint is not a signed note (it does not end with a newline)");
            if (/[\u0000-\u0009\u000B-\u001F]/.test(note)) throw new Error("the checkpoint holds a control character");
            const split = note.lastIndexOf("\n\n");
            if (split < 0) throw new Error("the checkpoint is not a signed note (no blank line)");
            const text = note.slice(0, split + 1);
            const sigs = note.slice(split + 2, -1).split("\n").map(line => {
              const m = /^\u2014 (\S+) (\S+)$/.exec(line);
              if (!m) throw new Error("a signature line is malformed");
              const bytes = b64(m[2]);
              // As the node's parser: a key id and a signature, not a key id alone.
              if (bytes.length <= 4) throw new Error("a signature line is not base64 of a key id and a signature");
              return { name: m[1], id: bytes.slice(0, 4), sig: bytes.slice(4) };
            });
            return { text, sigs };
          }

          async function verifyNote(note, vkey) {
            const v = await parseVkey(vkey);
            const parsed = parseNote(note);
            // The first line by the key's name and id decides, as in Go's note package and the
            // node: a bad one is not excused by a good one after it.
            const line = parsed.sigs.find(s => s.name === v.name && equal(s.id, v.id));
            if (!line) throw new Error("no signature by the log's key " + v.name + "+" + hex(v.id));
            if (line.sig.length !== 64) throw new Error("the signature line of the log's key " + v.name + " is not a 64-byte Ed25519 signature");
            const key = await crypto.subtle.importKey("raw", v.key, { name: "Ed25519" }, false, ["verify"]);
            const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, line.sig, enc.encode(parsed.text));
            if (!ok) throw new Error("the checkpoint's Ed25519 signature does not verify");
            const lines = parsed.text.split("\n");
            if (lines.length < 4 || lines[0] !== v.name) throw new Error("the checkpoint's origin is not " + v.name);
            if (!/^(0|[1-9][0-9]{0,15})$/.test(lines[1]) || Number(lines[1]) > Number.MAX_SAFE_INTEGER) throw new Error("the checkpoint's size is not a number this page can check");
            const root = b64(lines[2]);
            if (root.length !== 32) throw new Error("the checkpoint's root is not 32 bytes");
            // Quartet's signing time (`quartet-time <ms>`), shown beside a whole-log check.
            const stamp = lines.slice(3).find(l => /^quartet-time [0-9]{1,16}$/.test(l));
            return { size: Number(lines[1]), root, time: stamp ? Number(stamp.slice(13)) : null };
          }

          // C2SP tlog-cosignature: a witness's line is "— name base64(keyid(4) || time(8) ||
          // signature(64))", the key id SHA-256(name || "\n" || 0x04 || key)[:4], the time
          // big-endian POSIX seconds, the Ed25519 signature over "cosignature/v1\ntime <t>\n"
          // and then the checkpoint's text. Returns the members whose witness cosigned; a line
          // of a listed witness that does not verify counts as absent and is named in `refused`
          // (as `quartet verify-checkpoint` does: someone made it up, or mangled it).
          async function verifyCosignatures(note, witnesses) {
            const parsed = parseNote(note);
            const signed = [], refused = [];
            // Each public key counts once (the signed message names no witness, so one key
            // listed under two names would count one signature twice), and the quorum is at
            // least a majority of the keys, whatever number the page states.
            const keys = [], seen = new Set();
            for (const w of witnesses.keys) {
              const v = await parseVkey(w.vkey, 4);
              if (seen.has(hex(v.key))) continue;
              seen.add(hex(v.key));
              keys.push({ member: w.member, v });
            }
            const quorum = Math.max(Math.floor(keys.length / 2) + 1, Number.isInteger(witnesses.quorum) ? witnesses.quorum : 0);
            const times = new Map();
            for (const { member, v } of keys) {
              const t = await cosigned(parsed, v, member, refused);
              if (t !== null) { signed.push(member); times.set(member, t); }
            }
            // The log's own node's line (a policy of every log counts it): checked, not counted.
            if (witnesses.own) {
              const v = await parseVkey(witnesses.own.vkey, 4);
              if (!seen.has(hex(v.key))) await cosigned(parsed, v, witnesses.own.member + " (the log's own node)", refused);
            }
            return { signed, refused, of: keys.length, quorum, time: quorumTime(times, set => set.size >= quorum) };
          }

          // The time (POSIX seconds) of the note's cosignature line by witness key `v`, or null
          // when it has none, or when the line with its name and key hash does not verify (then
          // said in `refused`: counted as absent).
          async function cosigned(parsed, v, who, refused) {
            const line = parsed.sigs.find(s => s.name === v.name && equal(s.id, v.id));
            if (!line) return null;
            const refuse = why => { refused.push("the cosignature of " + who + " " + why); return null; };
            if (line.sig.length !== 72) return refuse("is not a time and a signature (72 bytes)");
            let time = 0;
            for (let i = 0; i < 8; i++) time = time * 256 + line.sig[i];
            if (time > Number.MAX_SAFE_INTEGER) return refuse("has a time this page cannot check");
            const key = await crypto.subtle.importKey("raw", v.key, { name: "Ed25519" }, false, ["verify"]);
            const message = enc.encode("cosignature/v1\ntime " + time + "\n" + parsed.text);
            if (!await crypto.subtle.verify({ name: "Ed25519" }, key, line.sig.slice(8), message)) return refuse("does not verify");
            return time;
          }

          // What the cells say of lines not counted.
          function notCounted(refused) { return refused.length ? "; not counted (made up or mangled): " + refused.join("; ") : ""; }

          // Each cosignature says: as of its time, this was the largest tree its witness had
          // seen (C2SP tlog-cosignature). The latest time by which witnesses meeting the quorum
          // all said so (`met` of the witnesses dated that time or later), or null: a node
          // serving an old checkpoint a quorum did cosign shows its age here.
          function quorumTime(times, met) {
            for (const t of [...new Set(times.values())].sort((a, b) => b - a)) {
              if (met(new Set([...times].filter(([, at]) => at >= t).map(([who]) => who)))) return t;
            }
            return null;
          }

          function witnessedAt(t) {
            if (t === null) return "";
            // (`shownTime` writes a time past what a date holds as a number; the age as the
            // node's pages write one.)
            const when = shownTime(t * 1000), age = Math.max(0, Math.floor(Date.now() / 1000) - t);
            const ago = age < 90 ? age + " s" : age < 5400 ? Math.floor(age / 60) + " min" : age < 172800 ? Math.floor(age / 3600) + " h" : Math.floor(age / 86400) + " days";
            return "; the quorum's witnesses had seen no larger tree as late as " + when + (when.endsWith("(no date)") ? "" : " (" + ago + " before this check)");
          }


        """#

    static let verifyRest = #"""
          // The header's fields, as docs/formats.md lays them out.
          function parseHeader(h) {
            let o = 0;
            const need = n => { if (o + n > h.length) throw new Error("the header is truncated"); };
            const byte = () => { need(1); return h[o++]; };
            // Text fields are UTF-8, as the node decodes them: bytes that are not are refused.
            const str = () => {
              const n = byte(); need(n);
              let s;
              try { s = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(h.slice(o, o + n)); } catch (e) { throw new Error("a header text field is not UTF-8"); }
              o += n; return s;
            };
            // `exact`: a number the page compares must be one JavaScript holds exactly; the time is
            // only shown (the leaf hash covers its bytes), so any value, as the number nearest to it
            // (a member's entry dated 2^60 ms must not fail an honest page).
            const u64 = (exact = true) => { need(8); let v = 0; for (let i = 0; i < 8; i++) v = v * 256 + h[o++]; if (exact && v > Number.MAX_SAFE_INTEGER) throw new Error("a header number is beyond what this page can check"); return v; };
            if (byte() !== 1) throw new Error("the header's format version is not 1");
            const log = str(), index = u64(), time = u64(false), type = str(), classification = str(), author = str();
            need(36); const commitment = h.slice(o, o + 32); o += 32;
            const length = ((h[o] << 24) >>> 0) + (h[o + 1] << 16) + (h[o + 2] << 8) + h[o + 3]; o += 4;
            if (o !== h.length) throw new Error("the header has bytes after its payload length");
            return { log, index, time, type, classification, author, commitment, length };
          }

          // RFC 9162 section 2.1.3.2.
          async function rootFromInclusion(index, size, leaf, proof) {
            if (index >= size) throw new Error("the index is beyond the tree");
            let fn = index, sn = size - 1, r = leaf;
            for (const p of proof) {
              if (sn === 0) throw new Error("the proof is longer than the tree allows");
              if (fn % 2 === 1 || fn === sn) {
                r = await sha256(concat(new Uint8Array([1]), p, r));
                if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
              } else {
                r = await sha256(concat(new Uint8Array([1]), r, p));
              }
              fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
            }
            if (sn !== 0) throw new Error("the proof is shorter than the tree needs");
            return r;
          }

          // An entry's header and payload, checked against each other: its fields, its payload
          // text (null for a stub) and its leaf hash SHA-256(0x00 || header).
          async function checkEntryBytes(e) {
            const header = b64(e.header);
            const fields = parseHeader(header);
            if (fields.log !== e.log || fields.index !== e.index) throw new Error("the header names " + fields.log + "/" + fields.index + ", not " + e.log + "/" + e.index);
            const leaf = await sha256(concat(new Uint8Array([0]), header));
            let content = null;
            // Bytes given (a payload the node holds, even one that is not JSON): they must be
            // the ones the header committed to. A payload shown without them is refused.
            if (typeof e.payload_base64 === "string" || (e.payload !== null && e.payload !== undefined)) {
              if (typeof e.payload_base64 !== "string" || typeof e.salt !== "string") throw new Error("a payload is shown without the bytes to check it against the header");
              const payload = b64(e.payload_base64);
              const commitment = await sha256(concat(b64(e.salt), payload));
              if (!equal(commitment, fields.commitment) || payload.length !== fields.length) throw new Error("the payload does not match the header's commitment");
              // Kept as the node reads it: a byte-order mark stays (the node's parser refuses
              // it), and bytes that are not UTF-8 are an unreadable payload, not a failed entry.
              try { content = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(payload); } catch (err) { content = ""; }
            }
            // Every node holds, and shows any reader, every public plan and progress payload (a
            // stub of one is refused wherever it comes from; only disclosure and purge records
            // are kept from readers): one shown without it is withheld, which would take it out
            // of the figure.
            if (content === null && fields.classification === "public" && /^(plan|progress)\./.test(fields.type)) throw new Error("a public entry is shown without its payload");
            return { fields, content, leaf };
          }

          async function checkEntry(item, heads) {
            const e = item.entry, inc = item.inclusion;
            const head = heads[e.log];
            if (!head) throw new Error("no verified checkpoint of log " + e.log);
            if (head.error) throw new Error(head.error);
            const { fields, content, leaf } = await checkEntryBytes(e);
            if (inc.size !== head.size) throw new Error("the proof is for size " + inc.size + ", the signed checkpoint has size " + head.size);
            const root = await rootFromInclusion(e.index, inc.size, leaf, inc.proof.map(x => { const h = b64(x); if (h.length !== 32) throw new Error("an inclusion proof hash is not 32 bytes"); return h; }));
            if (!equal(root, head.root)) throw new Error("the inclusion proof does not lead to the signed root");
            return { fields, content, what: (content === null ? "header (a stub here: no payload to check)" : "header and payload") + " and inclusion in " + e.log + " checkpoint " + head.size + " verified" };
          }

          // docs/formats.md, "Key rotation": from the pinned verifier key, each rotation entry in
          // index order, included in the verified checkpoint of `log`, its statement
          // "quartet key rotation\n<origin>\n<index>\n<previous vkey>\n<new vkey>\n" signed by
          // the key in force and by the new key. Returns the verifier key it ends at.
          // `before`: keys (as "b,y,t,e,s") the log had before `pinned`, none of which it may
          // rotate back to.
          async function followRotations(log, pinned, items, heads, before) {
            let inForce = pinned, last = -1;
            // As every node follows a chain: at most 256 rotations, none back to a key before.
            if (items.length > 256) throw new Error("more key rotations than a log may hold (256)");
            const seen = new Set(before || []);
            for (const item of items) {
              if (!item || !item.entry || item.entry.log !== log) throw new Error("a key rotation of another log");
              const r = await checkEntry(item, heads);
              const at = r.fields.index;
              if (r.fields.type !== "key.rotation" || r.fields.classification !== "public") throw new Error("entry " + at + " is not a public key rotation");
              if (at <= last) throw new Error("the key rotations are not in index order");
              last = at;
              if (r.content === null) throw new Error("key rotation " + at + " has no payload here to check");
              let p;
              try { p = JSON.parse(r.content); } catch (e) { throw new Error("key rotation " + at + " is not JSON"); }
              if (typeof p.vkey !== "string" || typeof p.key !== "string" || typeof p.previous !== "string"
                  || typeof p.key_signature !== "string" || typeof p.previous_signature !== "string") throw new Error("key rotation " + at + " lacks a field");
              // The one fixed form the format allows, byte for byte (as every node requires).
              const form = '{"key":"' + p.key + '","key_signature":"' + p.key_signature + '","previous":"' + p.previous
                + '","previous_signature":"' + p.previous_signature + '","vkey":"' + p.vkey + '"}';
              if (form !== r.content) throw new Error("key rotation " + at + " is not in the format's fixed form");
              const before = await parseVkey(inForce), after = await parseVkey(p.vkey);
              if (after.name !== before.name) throw new Error("key rotation " + at + " names another origin");
              if (!equal(b64(p.previous), before.key)) throw new Error("key rotation " + at + " does not start from the key in force");
              if (!equal(b64(p.key), after.key)) throw new Error("key rotation " + at + "'s key and verifier key differ");
              if (equal(after.key, before.key)) throw new Error("key rotation " + at + " rotates to the key in force");
              seen.add(Array.from(before.key).join(","));
              if (seen.has(Array.from(after.key).join(","))) throw new Error("key rotation " + at + " rotates to a key the log signed with before");
              const statement = enc.encode("quartet key rotation\n" + before.name + "\n" + at + "\n" + inForce + "\n" + p.vkey + "\n");
              for (const [key, sig, who] of [[before.key, p.previous_signature, "the key in force"], [after.key, p.key_signature, "its new key"]]) {
                const k = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
                if (!await crypto.subtle.verify({ name: "Ed25519" }, k, b64(sig), statement)) throw new Error("key rotation " + at + " is not signed by " + who);
              }
              inForce = p.vkey;
            }
            return inForce;
          }

          // A time in milliseconds as a date, or as the number it is when no date is that late
          // (JavaScript's dates end in year 275,760: a member's entry dated past it must not
          // make the check of an honest page throw).
          function shownTime(t) {
            return typeof t === "number" && isFinite(t) && Math.abs(t) <= 8.64e15 ? new Date(t).toISOString() : t + " ms since 1970 (no date)";
          }

          // After a check, the row's cells show what the verified bytes say, not what the page said.
          function showVerified(i, result) {
            const row = document.querySelector('[data-row="' + i + '"]');
            if (!row) return;
            // As the server's escape: controls, bidirectional overrides and isolates (`hidden`) shown as U+FFFD.
            const set = (name, text) => { const cell = row.querySelector('[data-field="' + name + '"]'); if (cell) cell.textContent = (text == null ? "" : String(text)).replace(new RegExp(hidden.source, "g"), "\ufffd"); };
            set("type", result.fields.type);
            set("time", shownTime(result.fields.time));
            set("author", result.fields.author);
            set("content", result.content === null ? "(payload not held here: a stub)" : (result.content.length > 240 ? result.content.slice(0, 240) + "\u2026" : result.content));
          }

          // The figure recomputed from the verified entries alone, as the view folds them
          // (docs/web.md, "What the page recomputes"): a reading is the newest reading of its
          // measure and period; a status the one with the latest as-of date (on equal dates the
          // later entry); a UK total the sum, over the other nations' count measures mapped to
          // it, of each one's reading for the period, else (for a quarter) the sum of its months',
          // else (for a year) the sum of its quarters, each its reading or its months' so made —
          // for a level (`over_time: latest` on the UK measure) the latest of them, not the sum.
          // Returns undefined for a kind of figure not recomputed here.
          // Whether the node's JSON parser (`JSONValueCoding.parse`) takes `text`, which every
          // node's fold reads payloads with: RFC 8259; whitespace only space, tab, LF and CR (a
          // byte-order mark is no JSON); strings without control characters or lone UTF-16
          // surrogates; numbers finite, and no zero written with an exponent or non-zero digits
          // (1e-400, 0e0: JSON.parse makes them 0); no key twice in one object, keys compared as
          // Swift compares strings (canonically equivalent ones are one key); nesting at most
          // 128 deep. A payload it refuses is unreadable at every node, so here too.
          const jsonEscapes = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
          function nodeReadsJSON(text) {
            let i = 0;
            const n = text.length;
            const fail = () => { throw nodeReadsJSON; };
            const ws = () => { while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++; };
            const digit = c => c !== undefined && c >= "0" && c <= "9";
            const digits = () => { while (i < n && digit(text[i])) i++; };
            const hex4 = () => { const h = text.slice(i, i + 4); if (!/^[0-9a-fA-F]{4}$/.test(h)) fail(); i += 4; return parseInt(h, 16); };
            function string() {
              i++;
              let out = "";
              while (i < n) {
                const c = text.charCodeAt(i);
                if (c === 0x22) { i++; return out; }
                if (c < 0x20) fail();
                if (c !== 0x5C) {
                  if (c >= 0xD800 && c <= 0xDFFF) {
                    const d = text.charCodeAt(i + 1);
                    if (c > 0xDBFF || !(d >= 0xDC00 && d <= 0xDFFF)) fail();
                    out += text[i] + text[i + 1];
                    i += 2;
                  } else { out += text[i]; i++; }
                  continue;
                }
                i++;
                const e = text[i++];
                if (e !== undefined && Object.prototype.hasOwnProperty.call(jsonEscapes, e)) { out += jsonEscapes[e]; continue; }
                if (e !== "u") fail();
                const high = hex4();
                if (high >= 0xDC00 && high <= 0xDFFF) fail();
                if (high >= 0xD800 && high <= 0xDBFF) {
                  if (text[i] !== "\\" || text[i + 1] !== "u") fail();
                  i += 2;
                  const low = hex4();
                  if (low < 0xDC00 || low > 0xDFFF) fail();
                  out += String.fromCharCode(high, low);
                } else out += String.fromCharCode(high);
              }
              fail();
            }
            function number() {
              const start = i;
              if (text[i] === "-") i++;
              if (text[i] === "0") i++; else if (digit(text[i]) ) digits(); else fail();
              if (text[i] === ".") { i++; if (!digit(text[i])) fail(); digits(); }
              if (text[i] === "e" || text[i] === "E") { i++; if (text[i] === "+" || text[i] === "-") i++; if (!digit(text[i])) fail(); digits(); }
              const t = text.slice(start, i), v = Number(t);
              if (!isFinite(v) || (v === 0 && /[eE1-9]/.test(t))) fail();
            }
            function value(depth) {
              ws();
              const c = text[i];
              if (c === "{" || c === "[") {
                if (depth >= 128) fail();
                const close = c === "{" ? "}" : "]", keys = c === "{" ? new Set() : null;
                i++; ws();
                if (text[i] === close) { i++; return; }
                for (;;) {
                  if (keys) {
                    ws();
                    if (text[i] !== '"') fail();
                    const key = string().normalize("NFD");
                    if (keys.has(key)) fail();
                    keys.add(key);
                    ws();
                    if (text[i] !== ":") fail();
                    i++;
                  }
                  value(depth + 1);
                  ws();
                  if (text[i] === ",") { i++; continue; }
                  if (text[i] === close) { i++; return; }
                  fail();
                }
              }
              if (c === '"') { string(); return; }
              for (const word of ["true", "false", "null"]) if (text.startsWith(word, i)) { i += word.length; return; }
              if (c === "-" || digit(c)) { number(); return; }
              fail();
            }
            try { value(0); ws(); return i === n; } catch (err) { if (err === nodeReadsJSON) return false; throw err; }
          }

          // The append's checks (`PlanValidator`, docs/entries.md), which every node's fold runs
          // too: an entry that fails them is unreadable there, and so left out here. Field by
          // field: known fields only, ids of the plans' shapes (ASCII), lengths in Unicode
          // scalars, periods and dates as the node parses them, a reading's value as its
          // measure's kind takes it (count: a whole number from 0 to 1,000,000,000). What needs
          // the rest of the log (an action a measure names, a withdrawn action) is not checked.
          const str = v => typeof v === "string";
          const has = (p, k) => p[k] !== undefined && p[k] !== null;
          const only = (p, keys) => Object.keys(p).every(k => keys.includes(k));
          // Blank as the node's `.whitespacesAndNewlines` has it (JavaScript's trim() also takes
          // U+FEFF, which the node keeps as text); a category's name as `.whitespaces` (tab and
          // space separators only).
          const blank = v => /^[\t\n\v\f\r\u0085\u200B\u2028\u2029\p{Zs}]*$/u.test(v);
          const blankName = v => /^[\t\u200B\p{Zs}]*$/u.test(v);
          const text = (v, max) => str(v) && !blank(v) && [...v].length <= max;
          const optText = (p, k, max) => !has(p, k) || text(p[k], max);
          const idShapes = { priority: /^P[1-9][0-9]{0,2}$/, action: /^P[1-9][0-9]{0,2}\.A[1-9][0-9]{0,2}$/, measure: /^P[1-9][0-9]{0,2}\.A[1-9][0-9]{0,2}\.M[1-9][0-9]{0,2}$/ };
          const id = (v, kind) => text(v, 64) && idShapes[kind].test(v);
          const period = v => text(v, 10) && /^(19[0-9]{2}|2[0-9]{3})(-(Q[1-4]|0[1-9]|1[0-2]))?$/.test(v);
          const date = v => {
            if (!text(v, 10) || !/^(19[0-9]{2}|2[0-9]{3})-[0-9]{2}-[0-9]{2}$/.test(v)) return false;
            const d = new Date(v + "T00:00:00Z");
            return !isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v;
          };
          const number = (v, low, high) => typeof v === "number" && isFinite(v) && v >= low && v <= high;
          const kinds = ["count", "percentage", "milestone", "distribution", "qualitative"];
          const shapes = {
            "progress.reading": p => only(p, ["measure", "period", "value", "achieved", "categories", "text", "note"]) && id(p.measure, "measure")
              && period(p.period) && optText(p, "note", 4000),
            "progress.status": p => only(p, ["action", "status", "note", "as_of"]) && id(p.action, "action")
              && ["not-started", "on-track", "at-risk", "off-track", "done"].includes(p.status) && optText(p, "note", 4000) && date(p.as_of),
            "plan.measure": p => only(p, ["id", "action", "text", "kind", "unit", "uk_measure", "target", "cadence", "over_time"]) && id(p.id, "measure")
              && id(p.action, "action") && p.id.startsWith(p.action + ".") && text(p.text, 2000) && kinds.includes(p.kind) && optText(p, "unit", 200)
              && (!has(p, "uk_measure") || id(p.uk_measure, "measure")) && (!has(p, "cadence") || ["annual", "quarterly", "monthly", "every-three-years"].includes(p.cadence))
              && (!has(p, "over_time") || (["sum", "latest"].includes(p.over_time) && p.kind === "count"))
              && (!has(p, "target") || (p.target && typeof p.target === "object" && !Array.isArray(p.target) && only(p.target, ["value", "per", "scope", "quote"])
                && number(p.target.value, 0, p.kind === "percentage" ? 100 : 1e9) && (p.kind === "count" || p.kind === "percentage")
                && ["year", "quarter", "month", "plan"].includes(p.target.per) && (!has(p.target, "scope") || ["uk", "nation"].includes(p.target.scope))
                && optText(p.target, "quote", 2000))),
            "plan.action": p => actionShape(p, false),
            "plan.action.revised": p => actionShape(p, true),
            "plan.action.withdrawn": p => only(p, ["id", "reason", "as_of"]) && id(p.id, "action") && text(p.reason, 2000) && date(p.as_of),
          };
          // An action as `PlanValidator` takes it: a measure counts only under an action its log
          // defined, so an action the node refuses must not count here either.
          function actionShape(p, revised) {
            const strings = (k, required, shape) => {
              if (!has(p, k)) return !required;
              const v = p[k];
              return Array.isArray(v) && (!required || v.length > 0) && v.length <= 100 && v.every(s => str(s) && s.length > 0 && (!shape || shape(s)));
            };
            const year = v => v === undefined || v === null || (Number.isInteger(v) && v >= 2000 && v <= 2100);
            const tf = p.timeframe;
            return only(p, ["id", "priority", "statements", "measures", "timeframe", "uk_actions", "source"].concat(revised ? ["reason"] : []))
              && id(p.id, "action") && id(p.priority, "priority") && p.id.startsWith(p.priority + ".")
              && strings("statements", true, s => [...s].length <= \#(PlanLimits.statementLength)) && strings("measures", false, m => idShapes.measure.test(m) && m.startsWith(p.id + "."))
              && strings("uk_actions", false, a => idShapes.action.test(a)) && optText(p, "source", 200)
              && (!has(p, "timeframe") || (tf && typeof tf === "object" && !Array.isArray(tf) && only(tf, ["text", "start_year", "end_year"])
                  && optText(tf, "text", 100) && year(tf.start_year) && year(tf.end_year)
                  && !(has(tf, "start_year") && has(tf, "end_year") && tf.end_year < tf.start_year)))
              && (!revised || text(p.reason, 2000));
          }
          // A reading carries exactly the field its measure's kind takes, in that kind's range.
          const readingFits = (p, kind) => {
            const expected = { count: "value", percentage: "value", milestone: "achieved", distribution: "categories", qualitative: "text" }[kind];
            const given = ["value", "achieved", "categories", "text"].filter(k => has(p, k));
            if (given.length !== 1 || given[0] !== expected) return false;
            switch (kind) {
              case "count": return Number.isInteger(p.value) && p.value >= 0 && p.value <= 1e9;
              case "percentage": return number(p.value, 0, 100);
              case "milestone": return typeof p.achieved === "boolean";
              case "distribution": {
                const c = p.categories;
                if (!c || typeof c !== "object" || Array.isArray(c)) return false;
                const keys = Object.keys(c);
                return keys.length >= 1 && keys.length <= 1000 && keys.every(k => !blankName(k) && !/[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/.test(k) && number(c[k], 0, 1e9));
              }
              case "qualitative": return text(p.text, 8000);
              default: return false;
            }
          };

          // What the node's parser refuses is unreadable there: left out here too.
          const readPayload = r => nodeReadsJSON(r.content) ? JSON.parse(r.content) : null;
          // Only what the view folds: public entries whose strings hold no control or bidi
          // override characters (tab and newline aside), as the node's admission and fold require.
          const hidden = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;
          const clean = v => typeof v === "string" ? !hidden.test(v)
            : Array.isArray(v) ? v.every(clean) : (v && typeof v === "object") ? Object.keys(v).every(k => clean(k) && clean(v[k])) : true;
          // The fold's checks that need the rest of the log (`PlanValidator` against the log as
          // folded so far), for one log's `records` (in index order): an entry taken only where
          // the log allows it then — an action not defined before, a revision or withdrawal of one
          // it has (withdrawn once), a measure of an action it has and at most 64 count
          // measures of one log added up into one UK measure, a status of an action not
          // withdrawn, a reading of a measure it has, by that measure's kind. Each taken record
          // goes into `taken` with its payload. Each payload parsed once.
          // Readings taken while their measure was a count measure go into `asCount`: only
          // those add into a UK total (as the node folds them, `ReadingState.admittedAs`).
          // The first day (YYYY-MM-DD) of a period the shapes took (YYYY, YYYY-Qn, YYYY-MM).
          function periodFirstDay(period) {
            if (period.length === 4) return period + "-01-01";
            if (period[5] === "Q") { const month = Number(period[6]) * 3 - 2; return period.slice(0, 4) + "-" + (month < 10 ? "0" : "") + month + "-01"; }
            return period + "-01";
          }

          function foldLog(log, records, ukLog, taken, asCount) {
            const actions = new Map(), measures = new Map(), mapped = new Map();
            const rollsUp = m => log !== ukLog && m.kind === "count" && has(m, "uk_measure");
            for (const r of records) {
              const type = r.fields.type, p = readPayload(r);
              if (!p || typeof p !== "object" || Array.isArray(p) || !clean(p) || !shapes[type](p)) continue;
              let ok = false;
              switch (type) {
                case "plan.action": ok = !actions.has(p.id); if (ok) actions.set(p.id, { withdrawn: null }); break;
                case "plan.action.revised": ok = actions.has(p.id); break;
                case "plan.action.withdrawn": ok = actions.has(p.id) && actions.get(p.id).withdrawn === null; if (ok) actions.get(p.id).withdrawn = p.as_of; break;
                case "plan.measure": {
                  const into = rollsUp(p) ? (mapped.get(p.uk_measure) || new Set()) : null;
                  // No new measure under a withdrawn action; one it had may be defined again with
                  // its kind, and its mapping kept or dropped.
                  const prior = measures.get(p.id), live = actions.has(p.action) && actions.get(p.action).withdrawn === null;
                  ok = actions.has(p.action) && (live || (!!prior && prior.kind === p.kind && (!has(p, "uk_measure") || (has(prior, "uk_measure") && prior.uk_measure === p.uk_measure))))
                    && (!into || into.has(p.id) || into.size < 64);
                  if (!ok) break;
                  const old = measures.get(p.id);
                  if (old && has(old, "uk_measure") && mapped.has(old.uk_measure)) mapped.get(old.uk_measure).delete(p.id);
                  measures.set(p.id, p);
                  if (into) { into.add(p.id); mapped.set(p.uk_measure, into); }
                  break;
                }
                case "progress.status": ok = actions.has(p.action) && actions.get(p.action).withdrawn === null; break;
                case "progress.reading": {
                  // A withdrawn action's measures take readings of periods begun by its withdrawal only.
                  const m = measures.get(p.measure), action = m && actions.get(m.action), asOf = action ? action.withdrawn : null;
                  ok = !!m && readingFits(p, m.kind) && (asOf === null || periodFirstDay(p.period) <= asOf);
                  if (ok && m.kind === "count") asCount.add(r);
                  break;
                }
              }
              if (ok) taken.set(r, p);
            }
          }

          function recompute(figure, verified, ukLog) {
            const parts = figure.split(":");
            // Each log's entries in index order through the fold's checks (`foldLog`). What is
            // not on the page counts as absent (the node puts a figure's actions on its page);
            // the cap holds only when the logs are read whole.
            const taken = new Map(), asCount = new Set();
            const byLog = new Map();
            for (const r of verified) {
              if (!shapes[r.fields.type] || r.fields.classification !== "public" || r.content === null) continue;
              if (!byLog.has(r.fields.log)) byLog.set(r.fields.log, []);
              byLog.get(r.fields.log).push(r);
            }
            for (const [log, records] of byLog) {
              records.sort((a, b) => a.fields.index - b.fields.index);
              foldLog(log, records, ukLog, taken, asCount);
            }
            // Each type's entries taken.
            const parsed = new Map();
            const ofType = type => {
              if (!parsed.has(type)) {
                const items = verified.filter(r => r.fields.type === type && taken.has(r))
                  .map(r => ({ log: r.fields.log, index: r.fields.index, p: taken.get(r), count: asCount.has(r) }));
                parsed.set(type, items);
              }
              return parsed.get(type);
            };
            // The view folds a reading only after its measure's definition, a status only after
            // its action's: the index of the first definition in the log, or Infinity.
            const firstDefinition = (type, log, id) => ofType(type).reduce((first, x) => x.log === log && x.p.id === id ? Math.min(first, x.index) : first, Infinity);
            // The newest of each key (entries of one log fold in index order).
            const newest = (items, key) => {
              const out = new Map();
              for (const x of items) { const k = key(x); if (k === null) continue; const had = out.get(k); if (!had || x.index > had.index) out.set(k, x); }
              return out;
            };
            if (parts[0] === "reading" && parts.length === 4) {
              const defined = firstDefinition("plan.measure", parts[1], parts[2]);
              const r = ofType("progress.reading").filter(x => x.log === parts[1] && x.p.measure === parts[2] && x.p.period === parts[3] && x.index > defined)
                .reduce((best, x) => !best || x.index > best.index ? x : best, null);
              if (!r) throw new Error("no verified reading of " + parts[2] + " for " + parts[3] + " on this page");
              return r.p.value ?? r.p.achieved ?? r.p.categories ?? r.p.text ?? null;
            }
            if (parts[0] === "status" && parts.length === 3) {
              let best = null;
              const defined = firstDefinition("plan.action", parts[1], parts[2]);
              const statuses = ["not-started", "on-track", "at-risk", "off-track", "done"];
              // An action the verified entries never define has no status to compare (the node
              // answers no such figure; a page stating null for it is not checked to match).
              if (defined === Infinity) throw new Error("the verified entries hold no definition of action " + parts[2] + " in " + parts[1]);
              for (const x of ofType("progress.status")) {
                if (x.log !== parts[1] || x.p.action !== parts[2] || typeof x.p.as_of !== "string" || !statuses.includes(x.p.status) || x.index <= defined) continue;
                // Dates are compared as the node compares strings only when they are ASCII.
                if (/[^\x20-\x7e]/.test(x.p.as_of)) throw new Error("status entry " + x.log + "/" + x.index + " has an as-of date this page cannot order as the node does");
                if (!best || x.p.as_of > best.p.as_of || (x.p.as_of === best.p.as_of && x.index > best.index)) best = x;
              }
              return best ? best.p.status : null;  // no status recorded yet
            }
            if (parts[0] === "total" && parts.length === 3) {
              const m = /^([0-9]{4})(?:-Q([1-4]))?$/.exec(parts[2]);
              if (!m) throw new Error("a total's period is a year or a quarter, not " + parts[2]);
              const year = m[1], quarter = m[2] ? Number(m[2]) : 0;
              const defs = newest(ofType("plan.measure"), x => typeof x.p.id === "string" ? x.log + "\n" + x.p.id : null);
              // A UK total is one only of a measure the UK log defines as a count measure (as
              // the node shows totals): a nation mapping to a measure the UK plan lacks makes none.
              const ukDef = defs.get(ukLog + "\n" + parts[1]);
              if (!ukDef || ukDef.p.kind !== "count") throw new Error("the verified entries hold no definition of " + parts[1] + " as a count measure in the UK log " + ukLog);
              const readings = newest(ofType("progress.reading"), x => typeof x.p.measure === "string" && typeof x.p.period === "string" ? x.log + "\n" + x.p.measure + "\n" + x.p.period : null);
              // Parts in calendar order made one: summed, or for a level (`over_time: latest` in
              // the UK measure's newest definition: a headcount) the last of them.
              const made = list => ukDef.p.over_time === "latest" ? list[list.length - 1] : list.reduce((a, b) => a + b, 0);
              let total = 0, any = false;
              for (const d of defs.values()) {
                if (d.log === ukLog || d.p.uk_measure !== parts[1] || d.p.kind !== "count") continue;
                // Months as [number, value], put in calendar order below.
                const yearly = [], quarters = [[], [], [], []], months = [[], [], [], []];
                const defined = firstDefinition("plan.measure", d.log, d.p.id);
                for (const r of readings.values()) {
                  if (r.log !== d.log || r.p.measure !== d.p.id || !r.count || typeof r.p.value !== "number" || r.index <= defined) continue;
                  const pm = /^([0-9]{4})(?:-(?:Q([1-4])|([0-9]{2})))?$/.exec(r.p.period);
                  if (!pm || pm[1] !== year) continue;
                  if (pm[2]) quarters[Number(pm[2]) - 1].push(r.p.value);
                  else if (pm[3]) { const n = Number(pm[3]); if (n >= 1 && n <= 12) months[Math.floor((n - 1) / 3)].push([n, r.p.value]); }
                  else yearly.push(r.p.value);
                }
                const ofMonths = i => made(months[i].sort((a, b) => a[0] - b[0]).map(x => x[1]));
                let part;
                if (quarter) {
                  part = quarters[quarter - 1].length ? quarters[quarter - 1][0] : (months[quarter - 1].length ? ofMonths(quarter - 1) : undefined);
                } else if (yearly.length) {
                  part = yearly[0];
                } else {
                  // Each quarter as it stands: its reading, else its months'.
                  const byQuarter = [0, 1, 2, 3].filter(i => quarters[i].length || months[i].length).map(i => quarters[i].length ? quarters[i][0] : ofMonths(i));
                  if (byQuarter.length) part = made(byQuarter);
                }
                if (part !== undefined) { total += part; any = true; }
              }
              if (!any) throw new Error("no verified reading on this page counts towards " + parts[1] + " for " + parts[2]);
              return total;
            }
            // Only the kinds this page does not recompute pass unrecomputed, in the shapes the
            // node answers; any other address (a total or reading of another shape) is refused,
            // as quartet verify-figure refuses it — not shown green with nothing recomputed.
            const notRecomputed = { priority: 2, cell: 3, aggregate: 3 };
            if (Object.prototype.hasOwnProperty.call(notRecomputed, parts[0]) && parts.length === notRecomputed[parts[0]]) return undefined;
            throw new Error("the figure " + JSON.stringify(figure) + " is not one a node answers (reading:<log>:<measure>:<period>, status:<log>:<action>, total:<measure>:<period>, cell:<priority>:<log>, priority:<id>, aggregate:<log>:<index>)");
          }

          // The figure the page's address asks for (the data must be for it), or null.
          function askedFigure() {
            try { return decodeURIComponent(location.pathname.replace(/^\/figures\//, "")); } catch (e) { return null; }
          }

          // Whether two figures are the same: numbers exactly (a total sums whole counts of at
          // most 1e9, exact in any order, and a reading is its entry's number: no honest figure
          // differs in its last digits, so a tolerance would only let a node state one a little
          // off), anything else as JSON with its keys sorted.
          function sameFigure(a, b) {
            if (typeof a === "number" && typeof b === "number") return a === b;
            const canon = v => Array.isArray(v) ? "[" + v.map(canon).join(",") + "]"
              : (v && typeof v === "object") ? "{" + Object.keys(v).sort().map(k => JSON.stringify(k) + ":" + canon(v[k])).join(",") + "}" : JSON.stringify(v);
            return canon(a) === canon(b);
          }
          // A number as the node's pages and CSV write it (every digit, no exponent), with the
          // whole part grouped in thousands: a check's message never rounds away a difference.
          function plainNumber(v) {
            let s = String(v), sign = "";
            if (s[0] === "-") { sign = "-"; s = s.slice(1); }
            const m = /^([0-9]+)(?:\.([0-9]+))?(?:e([+-][0-9]+))?$/.exec(s);
            if (!m) return sign + s;
            let digits = m[1] + (m[2] || ""), point = m[1].length + Number(m[3] || 0);
            if (point <= 0) { digits = "0".repeat(1 - point) + digits; point = 1; }
            else if (point > digits.length) digits += "0".repeat(point - digits.length);
            const whole = digits.slice(0, point).replace(/^0+(?=[0-9])/, "").replace(/\B(?=([0-9]{3})+(?![0-9]))/g, ",");
            const fraction = digits.slice(point).replace(/0+$/, "");
            return sign + whole + (fraction ? "." + fraction : "");
          }
          const shown = v => typeof v === "number" ? plainNumber(v) : JSON.stringify(v);

          // RFC 9162 section 2.1.1: the root of `leaves` (leaf hashes), built bottom-up, an odd
          // node carried up a level, which gives the same tree as the recursive definition.
          async function merkleRoot(leaves) {
            if (leaves.length === 0) return await sha256(new Uint8Array(0));
            let level = leaves;
            while (level.length > 1) {
              const next = [];
              for (let i = 0; i + 1 < level.length; i += 2) next.push(await sha256(concat(new Uint8Array([1]), level[i], level[i + 1])));
              if (level.length % 2 === 1) next.push(level[level.length - 1]);
              level = next;
            }
            return level[0];
          }

          // Every entry of `log` up to the verified checkpoint `head`, read from this node's API
          // (the reader's own sign-in), each checked against itself, and all of them against the
          // checkpoint's root: nothing left out, nothing added. Returns the checked entries.
          async function readWholeLog(log, head, progress) {
            const checked = [], leaves = [];
            let from = 0;
            while (from < head.size) {
              const res = await fetch("/v1/logs/" + encodeURIComponent(log) + "/entries?from=" + from + "&limit=1000",
                                      { credentials: "same-origin", headers: { accept: "application/json" } });
              if (!res.ok) throw new Error("reading " + log + " from entry " + from + ": the node answered " + res.status);
              const page = await res.json();
              if (!page || !Array.isArray(page.entries) || page.entries.length === 0) throw new Error("the node gave no entries of " + log + " from " + from + ", short of the checkpoint's " + head.size);
              for (const e of page.entries) {
                if (from >= head.size) break;
                if (!e || e.index !== from || e.log !== log) throw new Error("the node gave " + (e && e.log) + "/" + (e && e.index) + " where " + log + "/" + from + " belongs");
                const r = await checkEntryBytes(e);
                checked.push(r);
                leaves.push(r.leaf);
                from++;
              }
              progress(log, from, head.size);
            }
            if (!equal(await merkleRoot(leaves), head.root)) throw new Error("the " + head.size + " entries of " + log + " the node served do not give the signed root");
            return checked;
          }

          // The most entries the whole-log check reads, over all its logs.
          const maxWholeEntries = 2000000;

          // The heads the last finished check verified (per log), with the policy file it used
          // and whether each met the quorum, for the whole-log check; checks in progress.
          let lastRun = null, running = 0;

          // A checkpoint of `log` covering its first `want` entries, read from this node and
          // verified as the page's was: the key the page's checkpoint was verified with (the
          // policy file's, or the one the log's rotations on the page lead to), and with the
          // policy file its quorum (a newer checkpoint may not be cosigned yet: try again).
          async function headCovering(data, log, want, policy, lastCheck) {
            const res = await fetch("/v1/logs/" + encodeURIComponent(log) + "/checkpoint?covering=" + want, { credentials: "same-origin" });
            if (!res.ok) throw new Error("the node serves no checkpoint of " + log + " covering the " + want + " entries its figure rests on (" + res.status + ")");
            const text = await res.text();
            let head, quorum;
            try {
              if (policy) {
                // (A log rotated since the policy file was written fails here: write it again.)
                const r = await verifyWithPolicy(text, policy, log, [], Object.create(null));
                head = r.head, quorum = r.quorum;
              } else {
                const key = data.keys[log];
                if (!key || typeof key.vkey !== "string") throw new Error("no verifier key");
                head = await verifyNote(text, key.vkey);
                const listed = data.witnesses && data.witnesses[log];
                const w = listed ? await verifyCosignatures(text, listed) : { signed: [], refused: [], quorum: 0 };
                quorum = w.signed.length >= w.quorum;
              }
            } catch (err) {
              throw new Error("the newer checkpoint of " + log + " the figure needs: " + err.message);
            }
            if (head.size < want) throw new Error("the node's checkpoint of " + log + " holds " + head.size + " entries, fewer than the " + want + " its figure rests on");
            if ((policy || lastCheck.quorum[log]) && !quorum) throw new Error("the checkpoint of " + log + " covering the figure's " + want + " entries is not yet cosigned by " + (policy ? "your policy's" : "a") + " quorum of witnesses; try again in a moment");
            return head;
          }

          // Reads every log on the page whole and recomputes the figure from all their entries.
          async function checkWhole() {
            const data = JSON.parse(document.getElementById("provenance-data").textContent);
            const line = document.getElementById("whole-check");
            const say = (text, state) => { if (line) { line.textContent = text; line.className = state === "match" ? "verify-ok" : (state && state !== "not-recomputed" ? "verify-failed" : ""); } if (state) document.body.dataset.whole = state; };
            document.body.dataset.whole = "";
            try {
              if (running || !lastRun) throw new Error("the checkpoints are being checked; try again in a moment");
              // One snapshot of the last check for the whole of this one: a "Check again" or a
              // policy file picked while logs are read replaces `lastRun`, and reading it again
              // midway mixed two checks (a quorum no longer asked of a newer checkpoint, the
              // page's checkpoint not compared with what was read).
              const lastCheck = lastRun;
              // One policy (or none) for the whole check, whatever the reader picks while it reads.
              const policy = chosen;
              if (lastCheck.policy !== policy) throw new Error("the checkpoints were checked without the policy file chosen since; check again first");
              if (askedFigure() !== data.figure) throw new Error("the page's data is for another figure than this address asks for");
              const logs = Object.keys(data.checkpoints).sort();
              const heads = Object.assign(Object.create(null), lastCheck.heads);
              // With the reader's policy file every checkpoint read must meet its quorum.
              if (policy) {
                const short = logs.filter(l => !lastCheck.quorum[l]);
                if (short.length) throw new Error("the checkpoints of " + short.join(", ") + " do not meet your policy's quorum");
              }
              // A reading's or a status's own log must be among those read.
              const parts = String(data.figure).split(":");
              if ((parts[0] === "reading" || parts[0] === "status") && !logs.includes(parts[1])) throw new Error("the page holds no checkpoint of " + parts[1] + ", whose figure this is");
              if (parts[0] === "total" && !logs.includes(data.ukLog)) throw new Error("the page holds no checkpoint of the log it names as the UK's");
              // With the reader's policy file, a UK total is read from every log the file names
              // (by its URL), not only those on the page: a node cannot leave a nation out
              // whole. Their checkpoints come from this node and must meet the file's quorum.
              if (policy && String(data.figure).startsWith("total:")) {
                for (const l of policy.logs) {
                  const named = namedLog(l.url);
                  if (named === null) throw new Error("your policy file's line for " + l.v.name + " names no log (…/v1/logs/<log>), so its log cannot be read");
                  if (logs.includes(named)) continue;
                  const least = data.folded && Number.isSafeInteger(data.folded[named]) ? data.folded[named] : 0;
                  const res = await fetch("/v1/logs/" + encodeURIComponent(named) + "/checkpoint?covering=" + least, { credentials: "same-origin" });
                  if (!res.ok) throw new Error("the node does not serve the checkpoint of " + named + ", a log your policy file names (" + res.status + ")");
                  // (Its key rotations are not on the page: a policy file written before a rotation
                  // of this log fails here; write it again with quartet policy.)
                  const r = await verifyWithPolicy(await res.text(), policy, named, [], heads);
                  if (!r.quorum) throw new Error("the checkpoint of " + named + " does not meet your policy's quorum");
                  heads[named] = r.head;
                  logs.push(named);
                }
                logs.sort();
              }
              // How far this node's view had read each log when it stated the figure (the same
              // snapshot as the page): the figure is recomputed from exactly those entries, read
              // up to a checkpoint that covers them; a log read past them says what the newer
              // entries change. A view ahead of the page's checkpoint needs a newer one.
              const folded = data.folded && typeof data.folded === "object" ? data.folded : Object.create(null);
              const upTo = Object.create(null);
              for (const log of logs) {
                const head = heads[log];
                if (!head || head.error) throw new Error("the checkpoint of " + log + " did not verify");
                const want = Object.prototype.hasOwnProperty.call(folded, log) ? folded[log] : head.size;
                if (!Number.isSafeInteger(want) || want < 0) throw new Error("this node gives no sensible size for what its view read of " + log);
                // The figure rests on the page's entries: the view had read each of them.
                const newestOnPage = data.entries.reduce((n, item) => item && item.entry && item.entry.log === log && Number.isSafeInteger(item.entry.index) ? Math.max(n, item.entry.index) : n, -1);
                if (want <= newestOnPage) throw new Error("this node says its view had read " + want + " entries of " + log + ", but the figure rests on its entry " + newestOnPage);
                if (want > head.size) heads[log] = await headCovering(data, log, want, policy, lastCheck);
                upTo[log] = want;
              }
              // Bounded: a log's key could sign a checkpoint of any size, and this reads it all.
              const total = logs.reduce((n, log) => n + heads[log].size, 0);
              if (total > maxWholeEntries) throw new Error("these logs hold " + total + " entries up to their checkpoints, more than this page reads (" + maxWholeEntries + "); check them with quartet verify on a copy");
              let all = [], asOf = [];
              const read = [];
              for (const log of logs) {
                const head = heads[log];
                const checked = await readWholeLog(log, head, (l, n, size) => say("Reading " + l + ": " + n + " of " + size + " entries checked…", ""));
                // The page's own checkpoint of a log read further must be a prefix of what was read.
                const first = lastCheck.heads[log];
                if (first && !first.error && first !== head && !equal(await merkleRoot(checked.slice(0, first.size).map(r => r.leaf)), first.root)) {
                  throw new Error("the checkpoints of " + log + " at sizes " + first.size + " and " + head.size + " are of two different histories");
                }
                all = all.concat(checked);
                asOf = asOf.concat(checked.slice(0, upTo[log]));
                read.push(log + " to size " + head.size + (head.time !== null && head.time !== undefined ? " (signed " + shownTime(head.time) + ")" : "")
                          + (upTo[log] < head.size ? ", the figure as of its first " + upTo[log] : ""));
              }
              const which = read.join(", ") + (parts[0] === "total" ? "; " + data.ukLog + " taken as the UK log, as this node says" : "");
              const value = recompute(data.figure, asOf, data.ukLog);
              if (value === undefined) { say("Every entry of " + which + " verified; this kind of figure is not recomputed.", "not-recomputed"); return; }
              // Entries past what the view had read (it folds after storing) may change the figure.
              const newer = asOf.length < all.length ? recompute(data.figure, all, data.ukLog) : value;
              // (How far its view had read is this node's word: entries it says it had not read
              // yet may be ones it left out. Said so, never "nothing was left out".)
              const movedOn = sameFigure(newer, value) ? "" : " But all " + all.length + " entries up to the checkpoints give " + shown(newer) + ": either the figure has moved on since this page was made (load it again), or this node left the "
                + (all.length - asOf.length === 1 ? "newer entry" : (all.length - asOf.length) + " newer entries") + " out of what it says its view had read.";
              const stated = typeof data.stated === "string" ? JSON.parse(data.stated) : undefined;
              if (stated !== undefined && sameFigure(value, stated) && movedOn) {
                say("\u26a0 Read whole, every entry of " + which + " (" + all.length + " entries, their roots recomputed here" + (policy ? ", each checkpoint meeting your policy's quorum" : "") + "): the " + asOf.length + " entries this node says its view had read give " + shown(value) + ", the figure it states." + movedOn, "moved-on");
              } else if (stated !== undefined && sameFigure(value, stated)) {
                say("\u2713 Read whole, every entry of " + which + " (" + all.length + " entries, their roots recomputed here" + (policy ? ", each checkpoint meeting your policy's quorum" : "") + "): they give " + shown(value) + ", the figure this node states. Nothing was left out of these logs up to those checkpoints.", "match");
              } else {
                say("\u2717 Read whole, the " + asOf.length + " entries of " + which + ": they give " + shown(value) + (stated === undefined ? "; this node states no figure." : ", not the " + shown(stated) + " this node states: entries were left out of this page.") + movedOn, "mismatch");
              }
            } catch (err) {
              say("\u2717 The whole-log check failed: " + err.message, "failed");
            }
          }
          window.quartetCheckWhole = checkWhole;

          // The policy file the reader chose, if any: then keys and quorum come from it alone.
          let chosen = null;

          // Each check in turn; only the last one started may leave its heads for the whole-log check.
          let runCount = 0;
          async function run(policy = chosen) {
            running++;
            const generation = ++runCount;
            try { await check(policy, generation); } finally { running--; }
          }

          async function check(policy, generation) {
            const data = JSON.parse(document.getElementById("provenance-data").textContent);
            const summary = document.getElementById("verify-summary");
            if (!window.crypto || !crypto.subtle) { summary.textContent = "This browser cannot check: WebCrypto is unavailable (the page must be served over HTTPS)."; return; }
            const heads = Object.create(null);
            const quorumOf = Object.create(null);
            let badCheckpoints = 0, rotated = 0, unwitnessed = 0, rotations = 0, failure = "";
            // Sorted as the page's rows are (an object's own keys put all-digit names first).
            const logs = Object.keys(data.checkpoints).sort();
            for (let n = 0; n < logs.length; n++) {
              const log = logs[n];
              const cell = document.querySelector('[data-checkpoint-row="' + n + '"]');
              try {
                if (policy) {
                  const r = await verifyWithPolicy(data.checkpoints[log], policy, log, (data.rotations && data.rotations[log]) || [], heads);
                  heads[log] = r.head;
                  rotations += r.followed;
                  if (!r.quorum) unwitnessed++;
                  quorumOf[log] = r.quorum;
                  if (cell) {
                    cell.textContent = "\u2713 signature verified with " + (r.followed ? "the key the log's " + r.followed + " key rotation" + (r.followed === 1 ? "" : "s") + " lead to from your policy file's key, each checked here" : "your policy file's key for this log")
                      + " (size " + r.head.size + "); cosigned by "
                      + (r.signed.length ? r.signed.length + " of its witnesses (" + r.signed.join(", ") + ")" : "none of its witnesses")
                      + (r.quorum ? ", meeting its quorum" + witnessedAt(r.time) : ", not meeting its quorum: this checkpoint rests on the log's signature alone") + notCounted(r.refused);
                    // A line made up or mangled is worth a look, quorum or not.
                    cell.className = r.quorum && !r.refused.length ? "tag tag-green" : "tag tag-amber";
                  }
                  continue;
                }
                const key = data.keys[log];
                if (!key || typeof key.vkey !== "string") throw new Error("no verifier key for log " + log);
                heads[log] = await verifyNote(data.checkpoints[log], key.vkey);
                // A key other than the federation file's must be where the log's rotations,
                // each in the checkpoint just verified, lead from the pinned key.
                const pinned = key.vkey === key.pinned;
                let chain = 0;
                if (!pinned) {
                  const items = (data.rotations && data.rotations[log]) || [];
                  // (A failure here fails the checkpoint, and so every entry of the log.)
                  const reached = await followRotations(log, key.pinned, items, heads);
                  if (reached !== key.vkey) throw new Error("the checkpoint is signed by a key the log's rotations on this page do not lead to from the pinned key");
                  chain = items.length;
                  rotated++;
                  rotations += chain;
                }
                // Cosigned by a quorum of the other members' witnesses: then no one node could
                // have shown this reader a history the others did not see.
                const listed = data.witnesses && data.witnesses[log];
                const w = listed ? await verifyCosignatures(data.checkpoints[log], listed) : { signed: [], refused: [], of: 0, quorum: 1 };
                const quorum = w.signed.length >= w.quorum;
                if (!quorum) unwitnessed++;
                quorumOf[log] = quorum;
                const cosigned = w.of === 0 ? "; no witnesses listed for this log"
                  : "; cosigned by " + w.signed.length + " of " + w.of + " witnesses" + (w.signed.length ? " (" + w.signed.join(", ") + ")" : "")
                    + (quorum ? ", a quorum" + witnessedAt(w.time) : ", below the quorum of " + w.quorum + ": this checkpoint rests on the log's signature alone") + notCounted(w.refused);
                if (cell) {
                  // (The keys and the quorum are this node's word in this mode: a policy file
                  // of the reader's own checks against that instead.)
                  cell.textContent = (pinned ? "\u2713 signature verified with the key this node says the federation file pins (size " + heads[log].size + ")"
                                             : "\u2713 signature verified with the key the log's " + chain + " key rotation" + (chain === 1 ? "" : "s")
                                               + " lead to from the key this node says is pinned, each checked here (size " + heads[log].size + ")") + cosigned;
                  cell.className = quorum && !w.refused.length ? "tag tag-green" : "tag tag-amber";
                }
              } catch (err) {
                badCheckpoints++;
                heads[log] = { error: "checkpoint of " + log + ": " + err.message };
                if (!failure) failure = heads[log].error;
                if (cell) { cell.textContent = "\u2717 " + err.message; cell.className = "tag tag-red"; }
              }
            }
            let good = 0, bad = 0;
            const verified = [];
            for (let i = 0; i < data.entries.length; i++) {
              const cell = document.querySelector('[data-entry="' + i + '"]');
              try {
                const result = await checkEntry(data.entries[i], heads);
                good++;
                verified.push(result);
                showVerified(i, result);
                if (cell) { cell.textContent = "\u2713 verified"; cell.title = result.what; cell.className = "tag tag-green"; }
              } catch (err) {
                bad++;
                if (cell) { cell.textContent = "\u2717 " + err.message; cell.className = "tag tag-red"; }
              }
            }
            // The figure itself, from the verified entries alone, against what this node states.
            const figureLine = document.getElementById("figure-check");
            let figureState = "not-recomputed", figureText = "This page checks the entries this figure rests on; it does not recompute a figure of this kind.";
            // The figure the reader asked for is the one in the page's address, not the data's.
            if (askedFigure() !== data.figure) {
              figureState = "mismatch";
              figureText = "\u2717 The page's data is for the figure " + JSON.stringify(String(data.figure)) + ", not the one this address asks for.";
            } else if (data.omitted !== undefined && data.omitted !== null && data.omitted !== 0) {
              figureState = "incomplete";
              figureText = "\u2717 " + data.omitted + " of this figure's entries are not on this page (one answer holds at most 1,000 entries and 4 MiB of payloads): it cannot be checked whole here, and is not recomputed.";
            } else {
              try {
                const value = recompute(data.figure, verified, data.ukLog);
                if (value !== undefined) {
                  const stated = typeof data.stated === "string" ? JSON.parse(data.stated) : undefined;
                  if (stated !== undefined && sameFigure(value, stated)) {
                    figureState = "match";
                    figureText = "\u2713 Recomputed in this browser from the verified entries: " + shown(value) + ", the figure this node states"
                      + (String(data.figure).startsWith("total:") ? " (" + data.ukLog + " taken as the UK log, as this node says)." : ".");
                  } else {
                    figureState = "mismatch";
                    figureText = "\u2717 The verified entries give " + shown(value) + (stated === undefined ? ", and this node states no figure." : ", not the " + shown(stated) + " this node states.");
                  }
                }
              } catch (err) {
                figureState = "mismatch";
                figureText = "\u2717 The figure cannot be recomputed from the verified entries on this page: " + err.message;
              }
            }
            if (figureLine) { figureLine.textContent = figureText; figureLine.className = figureState === "match" ? "verify-ok" : (figureState === "not-recomputed" ? "" : "verify-failed"); }
            document.body.dataset.figure = figureState;
            if (generation === runCount) lastRun = { heads, policy, quorum: quorumOf };
            const entriesOk = bad === 0 && badCheckpoints === 0 && good > 0;
            // Under the reader's policy file a checkpoint below its quorum is not accepted
            // (tlog-policy; `quartet verify-checkpoint --policy` refuses it too).
            const quorumOk = !(policy && unwitnessed);
            const ok = entriesOk && quorumOk && figureState !== "mismatch" && figureState !== "incomplete";
            summary.textContent = entriesOk
              ? "\u2713 All " + good + " entries verified in this browser against the signed checkpoints" + (rotated ? " (" + rotated + " signed after key rotations, followed here from the pinned keys)." : ".")
              : (good + bad === 0 ? "\u2717 There is no entry on this page to check."
                 : "\u2717 " + bad + " of " + (good + bad) + " entries and " + badCheckpoints + " checkpoint(s) failed verification in this browser.");
            if (entriesOk) summary.textContent += unwitnessed
              ? (policy ? " \u2717 But " + unwitnessed + " checkpoint(s) lack your policy's quorum of witness cosignatures: under your policy they are not accepted."
                        : " " + unwitnessed + " checkpoint(s) lack a quorum of witness cosignatures: they rest on one node's signature.")
              : (policy ? " Every checkpoint meets your policy's quorum of witness cosignatures, checked here too."
                        : " Every checkpoint is cosigned by a quorum of the other members' witnesses, checked here too.");
            // The entries may all verify while the figure does not follow from them.
            if (entriesOk && quorumOk && !ok) summary.textContent = figureText + " (The " + good + " entries on the page verified themselves.)";
            if (policy) summary.textContent = "Checked against your policy file (its keys and quorum, not this node's): " + summary.textContent;
            summary.className = ok ? "verify-ok" : "verify-failed";
            document.body.dataset.policy = policy ? "file" : "node";
            document.body.dataset.witnessed = badCheckpoints ? "failed" : (unwitnessed ? "below-quorum" : "quorum");
            document.body.dataset.verified = ok ? "ok" : "failed";
            document.body.dataset.rotations = String(rotations);
            // The first checkpoint that failed and why (for tools driving the page).
            document.body.dataset.failure = failure;
          }
          window.quartetVerify = run;
          window.quartetParseVkey = parseVkey;  // for the browser tests
          window.quartetParsePolicy = parsePolicy;
          // For the browser tests: a payload's bytes (base64) read as the page reads them.
          const pageReads = text => {
            try { return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(b64(text)); } catch (err) { return ""; }
          };
          window.quartetNodeReads = text => nodeReadsJSON(pageReads(text));
          // For the browser tests: whether the page's fold takes an entry of `type` (payload in
          // base64) in a nation's log that defined action P1.A1 and its measure P1.A1.M1 of
          // `kind` before it (then `before`'s [type, payload text] entries, if given), as `quartet
          // dev plan-reads` asks the node's fold.
          window.quartetFoldTakes = (kind, type, text, before = []) => {
            const record = (index, type, content) => ({ fields: { log: "wales", index, type, classification: "public" }, content });
            const earlier = before.map(([t, content], i) => record(2 + i, t, content));
            const tested = record(2 + earlier.length, type, pageReads(text));
            const taken = new Map();
            foldLog("wales", [record(0, "plan.action", '{"id":"P1.A1","priority":"P1","statements":["s"]}'),
                              record(1, "plan.measure", '{"id":"P1.A1.M1","action":"P1.A1","text":"m","kind":"' + kind + '"}'), ...earlier, tested], "uk", taken, new Set());
            return taken.has(tested);
          };
          document.addEventListener("DOMContentLoaded", () => {
            const again = document.getElementById("verify-again");
            if (again) { again.hidden = false; again.addEventListener("click", () => run()); }
            const whole = document.getElementById("check-whole");
            if (whole) { whole.closest("p").hidden = false; whole.addEventListener("click", () => checkWhole()); }
            const file = document.getElementById("verify-policy");
            if (file) {
              file.closest("p").hidden = false;
              file.addEventListener("change", async () => {
                const summary = document.getElementById("verify-summary");
                try {
                  const f = file.files[0];
                  if (!f) { chosen = null; return run(); }
                  if (f.size > 65536) throw new Error("the policy file is longer than 64 KiB");
                  // As the node's parser reads a file: UTF-8 or refused, a byte-order mark kept
                  // (and so an unknown first word), not taken off (finding 283).
                  chosen = await parsePolicy(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(await f.arrayBuffer()));
                } catch (err) {
                  chosen = null;
                  document.body.dataset.policy = "error";
                  summary.textContent = "\u2717 Your policy file: " + err.message;
                  summary.className = "verify-failed";
                  return;
                }
                await run();
              });
            }
            run();
          });
        })();

        """#
}

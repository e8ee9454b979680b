/// The part of `/assets/verify.js` that checks a provenance page against a C2SP tlog-policy file
/// the reader gives it (docs/web.md): the file's parser, as strict as the node's
/// (`WitnessPolicy`), and the check of a checkpoint against its log keys, witnesses and quorum.
/// Spliced into `WebScript.verify`, in the scope of its helpers (`parseVkey`, `parseNote`,
/// `verifyNote`, `cosigned`).
extension WebScript {
    static let policyFunctions = #"""
          // A C2SP tlog-policy file the reader holds (`quartet policy` writes one): "log <vkey>
          // [<url>]", "witness <name> <vkey> [<url>]", "group <name> all|any|<k> <name>...",
          // "quorum <name>|none"; blank lines and "#" comments ignored. A group or the quorum
          // names only witnesses and groups defined above it, each name in one group at most.
          // Bounded as the node's parser is (64 KiB; 32 logs, 32 witnesses, 32 groups);
          // anything else is refused with its line.
          async function parsePolicy(text) {
            if (text.length > 65536) throw new Error("the policy file is longer than 64 KiB");
            // Each name is a member of one group at most (as the node's parser requires), so
            // the groups form a tree and the quorum is evaluated in linear time.
            const logs = [], witnesses = new Map(), groups = new Map(), names = new Set(), forms = new Set(), keys = new Set(), grouped = new Set();
            // Each key name and key id once over the log and witness lines (as the node's parser):
            // a signature line is matched by both, so one key could hide another's line.
            const lineKeys = new Set();
            const newLineKey = v => { const k = v.name + "\n" + hex(v.id); if (lineKeys.has(k)) throw new Error("the key name " + v.name + " with key id " + hex(v.id) + " is listed before (ambiguous keys)"); lineKeys.add(k); };
            let quorum;
            const lines = text.split("\n");
            for (let i = 0; i < lines.length; i++) {
              try {
                if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(lines[i])) throw new Error("a control character (only tab is allowed)");
                const words = lines[i].split(/[ \t]+/).filter(w => w.length > 0);
                if (words.length === 0 || words[0].startsWith("#")) continue;
                // Names are compared as bytes (JavaScript strings, exactly), and one that differs
                // from a name above only in Unicode form is refused, as the node's parser does
                // (finding 283).
                const fresh = name => {
                  if (name === "none" || names.has(name)) throw new Error("the name " + name + " is already defined");
                  if (forms.has(name.normalize("NFC"))) throw new Error("the name " + name + " differs from one defined above only in Unicode form; use a different name");
                  names.add(name); forms.add(name.normalize("NFC"));
                };
                if (words[0] === "log") {
                  if (words.length < 2 || words.length > 3) throw new Error("expected: log <vkey> [<url>]");
                  if (logs.length >= 32) throw new Error("more than 32 logs");
                  const v = await parseVkey(words[1], 1);
                  if (logs.some(l => l.v.name === v.name || hex(l.v.key) === hex(v.key))) throw new Error("the log " + v.name + " is listed twice");
                  newLineKey(v);
                  logs.push({ vkey: words[1], v, url: words[2] });
                } else if (words[0] === "witness") {
                  if (words.length < 3 || words.length > 4) throw new Error("expected: witness <name> <vkey> [<url>]");
                  if (witnesses.size >= 32) throw new Error("more than 32 witnesses");
                  const v = await parseVkey(words[2], 4);
                  if (keys.has(hex(v.key))) throw new Error("the key of " + words[1] + " is listed before");
                  fresh(words[1]);
                  newLineKey(v);
                  keys.add(hex(v.key));
                  witnesses.set(words[1], v);
                } else if (words[0] === "group") {
                  if (words.length < 4) throw new Error("expected: group <name> all|any|<k> <name>...");
                  if (groups.size >= 32) throw new Error("more than 32 groups");
                  const members = words.slice(3);
                  if (new Set(members).size !== members.length) throw new Error("the group " + words[1] + " names a member twice");
                  const missing = members.find(m => !names.has(m));
                  if (missing !== undefined) throw new Error("the group " + words[1] + " names " + missing + ", not defined above it");
                  const again = members.find(m => grouped.has(m));
                  if (again !== undefined) throw new Error(again + " is a member of more than one group");
                  const k = words[2] === "all" ? members.length : words[2] === "any" ? 1
                    : /^[1-9][0-9]{0,2}$/.test(words[2]) && Number(words[2]) <= members.length ? Number(words[2]) : 0;
                  if (k === 0) throw new Error("the threshold of " + words[1] + " must be all, any or a number from 1 to " + members.length);
                  fresh(words[1]);
                  for (const m of members) grouped.add(m);
                  groups.set(words[1], { k, members });
                } else if (words[0] === "quorum") {
                  if (words.length !== 2) throw new Error("expected: quorum <name>|none");
                  if (quorum !== undefined) throw new Error("a second quorum line");
                  if (words[1] !== "none" && !names.has(words[1])) throw new Error("the quorum names " + words[1] + ", not defined above it");
                  quorum = words[1];
                } else {
                  throw new Error("unknown line type " + words[0].slice(0, 40));
                }
              } catch (err) {
                throw new Error("policy line " + (i + 1) + ": " + err.message);
              }
            }
            if (logs.length === 0) throw new Error("the policy names no log");
            if (quorum === undefined) throw new Error("the policy has no quorum line");
            return { logs, witnesses, groups, quorum };
          }

          // The log a policy line's URL names (`quartet policy` writes
          // https://<node>/v1/logs/<log>: the last segment of its path, decoded), or null.
          // None for a URL with a query or fragment (which could hide the real tail: a member's
          // …/v1/logs/wales?/v1/logs/england) or dot segments.
          function namedLog(url) {
            // (Nor percent-encoded dots or backslashes, which the URL parser resolves as dot
            // segments and slashes where the node's reading does not.)
            if (url === undefined || url.includes("?") || url.includes("#") || /\/\.\.?(\/|$)/.test(url) || /%2e|\\/i.test(url)) return null;
            let path = "";
            try { path = new URL(url).pathname; } catch (e) { path = ""; }
            const m = /^(?:.*\/)?logs\/([^\/]+)$/.exec(path);
            try { return m ? decodeURIComponent(m[1]) : null; } catch (e) { return null; }
          }

          // A checkpoint against the reader's policy alone: the log key the policy gives for
          // the checkpoint's origin, then each of its witnesses' cosignatures, then its quorum
          // (groups only name what is defined above them, so the recursion ends). A log that
          // rotated its key after the policy was written: the rotations on the page, each in
          // this checkpoint, followed from the policy's key, must lead to the key that signed it.
          async function verifyWithPolicy(note, policy, name, rotations, heads) {
            const parsed = parseNote(note);
            const origin = parsed.text.split("\n")[0];
            const log = policy.logs.find(l => l.v.name === origin);
            if (!log) throw new Error("your policy file has no key for the log " + origin);
            // The page files this checkpoint under log `name`, and its entries' headers name
            // that log: the policy's line must name the same log, by its URL (`quartet policy`
            // writes https://<node>/v1/logs/<log>: the last segment of its path, decoded) or,
            // with no URL, by an origin ending in /<log>. A URL of another form names no log
            // (no falling back to the origin, which each member chooses). Otherwise a member
            // could file its own checkpoint under another member's name, with entries in its
            // own tree that claim to be that member's.
            // A policy in which two lines name this log names it for neither.
            const namesIt = l => l.url !== undefined ? namedLog(l.url) === name : l.v.name.endsWith("/" + name);
            if (policy.logs.filter(namesIt).length > 1) throw new Error("your policy file names the log " + name + " on more than one line: write it again with quartet policy");
            let named = null;
            if (log.url !== undefined) {
              named = namedLog(log.url);
              if (named === null) throw new Error("your policy file's line for " + origin + " has a URL that names no log (…/v1/logs/<log>): write the file again with quartet policy");
            }
            if (named !== null ? named !== name : !origin.endsWith("/" + name)) {
              throw new Error("your policy file's line for " + origin + " names " + (named !== null ? "the log " + named : "no log " + name + " (its origin does not end in /" + name + ")") + ", but the page shows this checkpoint as log " + name + "'s");
            }
            let head, followed = 0;
            try {
              head = await verifyNote(note, log.vkey);
            } catch (err) {
              if (!rotations || rotations.length === 0) throw err;
              // What each rotation states (not trusted until the chain is checked). The page gives
              // the chain from the key the federation file pins; a policy written after a
              // rotation names the key it moved to, and is followed from there on (as
              // `quartet verify-figure` does), never back to a key before it.
              const stated = rotations.map(item => {
                try {
                  const p = JSON.parse(new TextDecoder().decode(b64(item.entry.payload_base64)));
                  return { vkey: p.vkey, keys: [b64(p.previous), b64(p.key)] };
                } catch (e) { return null; }
              });
              const start = stated.findIndex(s => s !== null && equal(s.keys[1], log.v.key)) + 1;
              const mine = rotations.slice(start);
              const before = stated.slice(0, start).flatMap(s => s === null ? [] : s.keys.map(k => Array.from(k).join(",")));
              const claimed = stated.length && stated[stated.length - 1] ? stated[stated.length - 1].vkey : null;
              if (mine.length === 0 || typeof claimed !== "string") throw err;
              // Nodes follow a chain with the federation's revocations, this check without: only
              // witnesses meeting a quorum vouch that no revoked key's fork is followed here.
              if (policy.quorum === "none") throw new Error(err.message + " (the log rotated its key after your policy file was written, and its quorum is none: a rotated key is followed only where witnesses vouch for the checkpoint)");
              head = await verifyNote(note, claimed);
              heads[name] = head;
              if (await followRotations(name, log.vkey, mine, heads, before) !== claimed) throw new Error("the log's key rotations on this page do not lead from your policy file's key to the key that signed the checkpoint");
              followed = mine.length;
            }
            const times = new Map(), refused = [];
            for (const [name, v] of policy.witnesses) {
              const t = await cosigned(parsed, v, name, refused);
              if (t !== null) times.set(name, t);
            }
            const meets = signed => { const met = name => name === "none" || signed.has(name)
              || (policy.groups.has(name) && policy.groups.get(name).members.filter(met).length >= policy.groups.get(name).k); return met(policy.quorum); };
            const signed = new Set(times.keys());
            return { head, signed: [...signed], refused, quorum: meets(signed), followed, time: policy.quorum === "none" ? null : quorumTime(times, meets) };
          }

        """#
}

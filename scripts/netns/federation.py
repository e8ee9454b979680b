#!/usr/bin/env python3
"""The federation across a (virtual) network: five hosts in their own network namespaces.

Each node gets its own namespace (`ip netns`), joined to a bridge in a switch namespace by a
veth pair, with an address in 10.77.0.0/24 (used only inside these namespaces) and the other
hosts' names in /etc/netns/NAME/hosts. Every organisation onboards as docs/deploy.md says: its
node makes its log key and a certificate request on its own host (`quartet pki request`), the CA
signs the request (`quartet pki sign`), the members sign the federation file
(`quartet federation sign`), and each node is started from the packaged layout (the unit's
ExecStart line, a configuration made from the packaged example). Then, from an operator's
workstation namespace:

  - convergence: every node holds every log with equal roots; uk's dashboard shows the nations;
  - propagation wales -> uk (p50, p99) on the bare links;
  - a partition: england's link down for --partition seconds while every node appends, then
    healed: england catches up, every root equal, nothing acknowledged lost, no alert but lag;
  - packet loss (nftables, --loss percent on every node) for --loss-seconds of appends: the same;
  - a member removed from the federation file (SIGHUP): it can no longer connect or read;
  - propagation wales -> uk over links with --delay-ms of delay each (default 10 ms, a 20 ms
    round trip; 0 skips it): a second federation of five, in namespaces qd-* on 10.78.0.0/24,
    onboarded and started the same way, whose links go through scripts/netns/delayswitch.py.

Prints a JSON summary; exits non-zero on any failure. Must run as root. If the machine cannot
make namespaces, it says so and fails (it never passes empty).

`tc netem` (the issue's way to give links 10 ms of delay) is not in this machine's kernel
(CONFIG_NET_SCH_NETEM is not set; `tc qdisc add ... netem` answers "Specified qdisc kind is
unknown"; there is no fq/EDT either), so the kernel cannot delay packets. The delay is a
userspace switch's instead (delayswitch.py: TAP devices, one select loop in Python, each frame
held --delay-ms as it leaves the switch). It adds its own cost to every crossing, so the round
trip is measured, not assumed (TCP connect wales -> uk, "rtt" in the summary), and the target
(p50 <= that round trip + 5 ms) is reported as met or not met: a figure of this substitute, not a
failure. The summary's "propagation_wales_to_uk_delayed" says exactly what its figure includes
("measured"): it is taken on wales's and uk's own hosts, so the workstation's own delayed link is
not in it; the workstation's view ("via_workstation") is given beside it, with what that includes.
"""
import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

NODES = [("uk", "aggregator", 10), ("wales", "nation", 11), ("england", "nation", 12),
         ("scotland", "nation", 13), ("northern-ireland", "nation", 14)]
OPS_ADDRESS = 20
DOMAIN = "quartet.test"
PEER_PORT, API_PORT = 7400, 8400


class Topology:
    """Where one run's hosts live: the prefix of its namespaces' names and its /24 (the first
    three octets). The bare-link run and the delayed run each have their own, side by side."""

    def __init__(self, prefix, subnet):
        self.prefix, self.subnet = prefix, subnet
        self.ops, self.switch = prefix + "ops", prefix + "switch"

    def ns(self, node):
        return self.prefix + {"northern-ireland": "ni"}.get(node, node)

    def address(self, node):
        octet = OPS_ADDRESS if node == "ops" else dict((n, o) for n, _, o in NODES)[node]
        return f"{self.subnet}.{octet}"


BARE = Topology("qf-", "10.77.0")
DELAYED = Topology("qd-", "10.78.0")


def host(node):
    return f"{node}.{DOMAIN}"


def run(args, check=True, quiet=False, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{result.stdout}{result.stderr}")
    if not quiet and result.stderr.strip() and result.returncode != 0:
        print(result.stderr, file=sys.stderr)
    return result


class Network:
    """The namespaces, their links and the hosts files. With `bridged`, each host is joined to
    a kernel bridge in the switch namespace by a veth pair (links that `link` and `loss` act on);
    without, the namespaces are made with no link, for the delay switch to attach TAPs to."""

    def __init__(self, topology, bridged=True):
        self.topology, self.bridged = topology, bridged
        self.names = [topology.ns(n) for n, _, _ in NODES] + [topology.ops]

    def spaces(self):
        """(node or "ops", its namespace) for every host."""
        return [(n, self.topology.ns(n)) for n, _, _ in NODES] + [("ops", self.topology.ops)]

    def create(self):
        self.destroy()
        switch = self.topology.switch
        probe = run(["ip", "netns", "add", switch], check=False)
        if probe.returncode != 0:
            raise SystemExit(f"cannot create network namespaces here (ip netns add: {probe.stderr.strip()}); "
                             "this test needs root and CAP_SYS_ADMIN")
        if self.bridged:
            run(["ip", "-n", switch, "link", "add", "br0", "type", "bridge"])
            run(["ip", "-n", switch, "link", "set", "br0", "up"])
        hosts = ["127.0.0.1 localhost"] + [f"{self.topology.address(n)} {host(n)}" for n, _, _ in NODES]
        for name, space in self.spaces():
            run(["ip", "netns", "add", space])
            run(["ip", "-n", space, "link", "set", "lo", "up"])
            if self.bridged:
                short = self.short(space)
                run(["ip", "link", "add", f"{short}0", "netns", space, "type", "veth", "peer", "name", f"{short}1", "netns", switch])
                run(["ip", "-n", switch, "link", "set", f"{short}1", "master", "br0", "up"])
                run(["ip", "-n", space, "addr", "add", f"{self.topology.address(name)}/24", "dev", f"{short}0"])
                run(["ip", "-n", space, "link", "set", f"{short}0", "up"])
            os.makedirs(f"/etc/netns/{space}", exist_ok=True)
            with open(f"/etc/netns/{space}/hosts", "w") as f:
                f.write("\n".join(hosts) + "\n")

    def short(self, space):
        return space[len(self.topology.prefix):][:8]

    def link(self, node, up):
        short = self.short(self.topology.ns(node))
        run(["ip", "-n", self.topology.switch, "link", "set", f"{short}1", "up" if up else "down"])

    def loss(self, percent):
        """Drops `percent` % of the packets each node receives (nftables; 0 removes the rule)."""
        for name, _, _ in NODES:
            space = self.topology.ns(name)
            run(["ip", "netns", "exec", space, "nft", "delete", "table", "inet", "qfloss"], check=False, quiet=True)
            if percent > 0:
                run(["ip", "netns", "exec", space, "nft", "add", "table", "inet", "qfloss"])
                run(["ip", "netns", "exec", space, "nft", "add", "chain", "inet", "qfloss", "input",
                     "{ type filter hook input priority 0; }"])
                run(["ip", "netns", "exec", space, "nft", "add", "rule", "inet", "qfloss", "input",
                     "numgen", "random", "mod", "100", "<", str(percent), "drop"])

    def destroy(self):
        for space in self.names + [self.topology.switch]:
            run(["ip", "netns", "del", space], check=False, quiet=True)
            shutil.rmtree(f"/etc/netns/{space}", ignore_errors=True)


class DelaySwitch:
    """delayswitch.py (this directory) as a child process in the topology's switch namespace:
    one delayed TAP link per host. `stop` closes its standard input (it also stops by itself if
    this process dies, its input closing) and returns its statistics."""

    def __init__(self, network, delay_ms, log_path):
        self.network, self.delay_ms, self.log_path = network, delay_ms, log_path
        self.process, self.stats = None, None

    def start(self):
        program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "delayswitch.py")
        ports = [f"--port={space}={self.network.topology.address(name)}/24" for name, space in self.network.spaces()]
        self.log = open(self.log_path, "a")
        self.process = subprocess.Popen(["ip", "netns", "exec", self.network.topology.switch, sys.executable, program,
                                         "--delay-ms", str(self.delay_ms), "--tap-prefix", "qdtap", *ports],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()
        if '"ready": true' not in line:
            self.stop()
            raise SystemExit(f"the delay switch did not start: {line}\n{open(self.log_path).read()[-3000:]}")
        self.scheduling = json.loads(line).get("scheduling")

    def stop(self):
        if self.process is None or self.stats is not None:
            return self.stats
        try:
            out, _ = self.process.communicate(timeout=10)  # closes its input: the switch stops
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.log.close()
        lines = [l for l in out.splitlines() if l.startswith('{"stats"')]
        self.stats = json.loads(lines[-1])["stats"] if lines else {"error": f"no statistics (exit {self.process.returncode})"}
        self.stats["scheduling"] = getattr(self, "scheduling", None)
        return self.stats


class Hosts:
    """Each organisation's host as a directory: /etc/quartet, /var/lib/quartet/NODE, its keys."""

    def __init__(self, root, quartet, unit, example, topology):
        self.root, self.quartet, self.unit, self.example, self.topology = root, quartet, unit, example, topology
        self.ca = os.path.join(root, "federation-ca")
        self.workstation = os.path.join(root, "workstation")

    def etc(self, node):
        return os.path.join(self.root, node, "etc", "quartet")

    def data(self, node):
        return os.path.join(self.root, node, "var", "lib", "quartet", node)

    def q(self, *args, space=None, **kwargs):
        prefix = ["ip", "netns", "exec", space] if space else []
        return run(prefix + [self.quartet, *args], **kwargs)

    def onboard(self):
        """Keys and requests on each host, the CA's signatures, the signed federation file."""
        os.makedirs(self.workstation, exist_ok=True)
        self.q("pki", "init", "--out", self.ca)
        vkeys = {}
        for node, role, octet in NODES:
            os.makedirs(self.etc(node), exist_ok=True)
            os.makedirs(os.path.dirname(self.data(node)), mode=0o700, exist_ok=True)
            self.q("init", "--log", node, "--data", self.data(node))
            vkeys[node] = self.q("key", "vkey", "--data", self.data(node), "--log", node).stdout.strip()
            pki = os.path.join(self.etc(node), "pki")
            # On the member's host: its key never leaves it; only the .csr goes to the CA.
            self.q("pki", "request", "--node", node, "--dns", host(node), "--ip", self.topology.address(node), "--out", pki)
            self.q("pki", "request", "--operator", node, "--out", pki)
            # At the CA: the request is checked against its role and signed.
            # The hosts the member's message names, which its request must name exactly.
            self.q("pki", "sign", "--ca", self.ca, "--csr", os.path.join(pki, f"{node}.csr"), "--node", node,
                   "--host", host(node), "--host", self.topology.address(node))
            self.q("pki", "sign", "--ca", self.ca, "--csr", os.path.join(pki, f"operator-{node}.csr"), "--operator", node)
        self.q("pki", "request", "--reader", "analyst", "--out", self.workstation)
        self.q("pki", "sign", "--ca", self.ca, "--csr", os.path.join(self.workstation, "reader-analyst.csr"), "--reader", "analyst")
        federation = {"federation": "uk-ot-workforce", "version": 1, "nodes": [
            {"id": node, "role": role, "peer": f"{host(node)}:{PEER_PORT}", "api": f"https://{host(node)}:{API_PORT}", "vkey": vkeys[node]}
            for node, role, _ in NODES]}
        self.publish(federation, signers=[n for n, _, _ in NODES])
        for node, _, _ in NODES:
            self.configure(node)

    def publish(self, federation, signers):
        """Writes the federation file, has `signers` sign it each on their own copy's data
        directory, and puts file and signatures on every host."""
        path = os.path.join(self.workstation, "federation.json")
        with open(path, "w") as f:
            json.dump(federation, f, indent=2)
            f.write("\n")
        for i, member in enumerate(signers):
            # Each member reviews the changes from the version its node runs (none on a first start).
            accepted = os.path.join(self.data(member), "federation.accepted.json")
            review = ["--accepted", accepted] if os.path.exists(accepted) else ["--no-previous"]
            self.q("federation", "sign", "--file", path, "--member", member, "--data", self.data(member), *(["--fresh"] if i == 0 else []), *review)
        for node, _, _ in NODES:
            for name in ("federation.json", "federation.json.sig"):
                shutil.copy(os.path.join(self.workstation, name), os.path.join(self.etc(node), name))

    def configure(self, node):
        """The node's configuration, made from the packaged example."""
        with open(self.example) as f:
            config = json.load(f)
        config.update({"node": node, "data": self.data(node),
                       "peer": {"listen": f"0.0.0.0:{PEER_PORT}"}, "api": {"listen": f"0.0.0.0:{API_PORT}"},
                       "tls": {"ca": os.path.join(self.etc(node), "pki", "ca.pem"), "certificate": os.path.join(self.etc(node), "pki", f"{node}.pem"),
                               "key": os.path.join(self.etc(node), "pki", f"{node}.key")},
                       "federation": os.path.join(self.etc(node), "federation.json")})
        config.pop("log", None)
        config.pop("tokens", None)
        with open(os.path.join(self.etc(node), f"{node}.json"), "w") as f:
            json.dump(config, f, indent=2)
        check = self.q("config", "check", "--config", os.path.join(self.etc(node), f"{node}.json"), "--no-ports", check=False)
        if check.returncode != 0:
            raise SystemExit(f"config check refused {node}'s configuration:\n{check.stdout}{check.stderr}")

    def exec_start(self, node):
        """The unit's ExecStart line for instance `node`, pointed at this host's files."""
        with open(self.unit) as f:
            line = next(l for l in f if l.startswith("ExecStart="))
        words = line.split("=", 1)[1].strip().split()
        words = [w.replace("%i", node).replace("/etc/quartet", self.etc(node)) for w in words]
        if words[0].endswith("quartet"):
            words[0] = self.quartet
        return words


class Node:
    def __init__(self, hosts, node):
        self.node, self.hosts = node, hosts
        self.log_path = os.path.join(hosts.root, node, "serve.log")
        self.process = None

    def start(self):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(["ip", "netns", "exec", self.hosts.topology.ns(self.node)] + self.hosts.exec_start(self.node),
                                        stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.process.stdout.readline()
        if "listening" not in line:
            raise SystemExit(f"{self.node} did not start: {line}\n{open(self.log_path).read()[-3000:]}")

    def signal(self, number):
        self.process.send_signal(number)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def log(self):
        with open(self.log_path) as f:
            return f.read()


def setns(fd, name):
    import ctypes
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise SystemExit(f"setns into {name} failed: errno {ctypes.get_errno()}")


def enter_namespace(name):
    """Moves this process (one thread) into network namespace `name` (setns(2) through libc)."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        setns(fd, name)
    finally:
        os.close(fd)


@contextlib.contextmanager
def in_namespace(name):
    """Runs the block in network namespace `name`, then returns to this one. A socket made in
    the block stays in `name` for its life: that is how the workstation process holds
    connections that start on another host."""
    if name is None:
        yield
        return
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        enter_namespace(name)
        try:
            yield
        finally:
            setns(here, "the workstation's namespace")
    finally:
        os.close(here)


class NamedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a node by its address, checking its certificate by its name (the workstation
    namespace has no hosts file of its own: `ip netns exec` mounts one only for its child).
    With `namespace`, the connection starts there instead of the workstation's namespace."""

    def __init__(self, node, context, timeout, topology, namespace=None):
        super().__init__(host(node), API_PORT, context=context, timeout=timeout)
        self.address, self.namespace = topology.address(node), namespace

    def connect(self):
        with in_namespace(self.namespace):
            sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class Client:
    """HTTPS to the nodes' APIs from the workstation, with a certificate, keep-alive; with
    `namespace`, from that host instead (see `in_namespace`)."""

    def __init__(self, ca, certificate, key, topology=BARE, namespace=None):
        self.context = ssl.create_default_context(cafile=ca)
        self.context.load_cert_chain(certificate, key)
        self.topology, self.namespace = topology, namespace
        self.connections = {}

    def request(self, node, method, path, body=None, timeout=10):
        for attempt in range(2):
            connection = self.connections.get(node)
            if connection is None:
                connection = NamedHTTPS(node, self.context, timeout, self.topology, self.namespace)
                self.connections[node] = connection
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                self.connections.pop(node, None)
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def json(self, node, path):
        status, body = self.request(node, "GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} at {node}: {status} {body[:200]!r}")
        return json.loads(body)


class Checks:
    def __init__(self, hosts, reader, operators):
        self.hosts, self.reader, self.operators = hosts, reader, operators
        self.acknowledged = {n: [] for n, _, _ in NODES}
        self.failures = []

    def expect(self, condition, message):
        print(("ok   " if condition else "FAIL ") + message, flush=True)
        if not condition:
            self.failures.append(message)

    def heads(self, node):
        return self.heads_and_folded(node)[0]

    def heads_and_folded(self, node):
        """The (size, root) of every log `node` holds, and whether its view has folded them all
        (view_size, docs/openapi.yaml)."""
        logs = self.reader.json(node, "/v1/logs")["logs"]
        return ({l["log"]: (l["size"], l.get("root")) for l in logs},
                all(l.get("view_size") is None or l["view_size"] >= l["size"] for l in logs))

    def converge(self, nodes, timeout=60):
        """Waits until `nodes` hold the same size and root of every log, folded into their
        views; returns the heads."""
        deadline, last, unfolded = time.time() + timeout, {}, []
        while time.time() < deadline:
            try:
                got = {n: self.heads_and_folded(n) for n in nodes}
            except (OSError, RuntimeError, http.client.HTTPException):
                time.sleep(0.3)
                continue
            last = {n: heads for n, (heads, _) in got.items()}
            unfolded = [n for n, (_, folded) in got.items() if not folded]
            if not unfolded and len({json.dumps(h, sort_keys=True) for h in last.values()}) == 1:
                return next(iter(last.values()))
            time.sleep(0.3)
        raise AssertionError(f"no convergence within {timeout} s (views not yet folded at: {unfolded}): {json.dumps(last, sort_keys=True)[:2000]}")

    def append(self, node, payload):
        status, body = self.operators[node].request(node, "POST", f"/v1/logs/{node}/entries", {"type": "test.note", "payload": payload})
        if status != 201:
            raise RuntimeError(f"append at {node}: {status} {body[:200]!r}")
        index = json.loads(body)["index"]
        self.acknowledged[node].append(index)
        return index

    def propagation(self, count=100, histogram=False):
        """wales -> uk: from wales's acknowledgement to uk holding the entry, in ms. With
        `histogram`, also how many samples fell in each 5 ms band: [[20, 7], ...] is 7 samples
        in [20, 25) ms."""
        samples = []
        for i in range(count):
            index = self.append("wales", {"propagation": i})
            acknowledged = time.perf_counter()
            while True:
                status, body = self.reader.request("uk", "GET", "/v1/logs")
                held = next(l["size"] for l in json.loads(body)["logs"] if l["log"] == "wales")
                if held > index:
                    samples.append((time.perf_counter() - acknowledged) * 1000)
                    break
        samples.sort()
        result = {"count": count, "p50_ms": round(statistics.median(samples), 2),
                  "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2), "max_ms": round(samples[-1], 2)}
        if histogram:
            bands = {}
            for sample in samples:
                band = int(sample // 5) * 5
                bands[band] = bands.get(band, 0) + 1
            result["histogram_5ms"] = sorted([band, n] for band, n in bands.items())
        return result

    def nothing_lost(self, heads):
        for node, indices in self.acknowledged.items():
            if indices:
                self.expect(heads[node][0] > max(indices), f"every entry {node} acknowledged ({len(indices)}) is held everywhere")

    def alerts(self, node, allowed=()):
        kinds = [a["kind"] for a in self.reader.json(node, "/v1/alerts")["alerts"]]
        return [k for k in kinds if k not in allowed]


def local_append(hosts, checks, node, payload, max_time=10):
    """Appends at `node` from its own host (its namespace), as its operator: works while the
    node is cut off from the others. Returns the index, or None if refused."""
    pki = os.path.join(hosts.etc(node), "pki")
    result = run(["ip", "netns", "exec", hosts.topology.ns(node), "curl", "-sS", "--max-time", str(max_time), "--cacert", os.path.join(pki, "ca.pem"),
                  "--cert", os.path.join(pki, f"operator-{node}.pem"), "--key", os.path.join(pki, f"operator-{node}.key"),
                  "-H", "Content-Type: application/json", "-d", json.dumps({"type": "test.note", "payload": payload}),
                  "-w", "\n%{http_code}", f"https://{host(node)}:{API_PORT}/v1/logs/{node}/entries"], check=False)
    lines = result.stdout.strip().split("\n")
    if lines[-1] != "201":
        return None
    index = json.loads("\n".join(lines[:-1]))["index"]
    checks.acknowledged[node].append(index)
    return index


def appending(hosts, checks, seconds, label, max_time=10):
    """Every node appends, round after round, for `seconds`; returns how many were acknowledged."""
    deadline, done, refused = time.time() + seconds, 0, 0
    round_ = 0
    while time.time() < deadline:
        for node, _, _ in NODES:
            if local_append(hosts, checks, node, {label: round_}, max_time=max_time) is None:
                refused += 1
            else:
                done += 1
        round_ += 1
    return done, refused


def connect_rtt(topology, client, server, count=20):
    """TCP connect times (ms) from `client`'s host to a listener of this process's own on
    `server`'s host: the SYN out and the SYN-ACK back, through whatever joins the two hosts.
    The first connect, which may wait for ARP as well, is left out. No node is involved."""
    with in_namespace(topology.ns(server)):
        listener = socket.create_server((topology.address(server), 0), backlog=count + 5)
    port, samples = listener.getsockname()[1], []
    try:
        for i in range(count + 1):
            with in_namespace(topology.ns(client)):
                started = time.perf_counter()
                connection = socket.create_connection((topology.address(server), port), timeout=5)
                elapsed = (time.perf_counter() - started) * 1000
            connection.close()
            if i > 0:
                samples.append(elapsed)
    finally:
        listener.close()
    samples.sort()
    return {"between": f"{client} -> {server}", "count": count, "min_ms": round(samples[0], 2),
            "p50_ms": round(statistics.median(samples), 2), "max_ms": round(samples[-1], 2)}


PROPAGATION_MEASURED = (
    "from wales's acknowledgement as received on wales's own host (the operator's connection starts in "
    "wales's namespace, so it does not cross the switch) to the first answer of uk's API showing the entry, "
    "polled back to back on uk's own host (likewise not crossing the switch); one clock (CLOCK_MONOTONIC, "
    "shared by all namespaces). It includes every crossing of the delayed links that replication makes "
    "between wales and uk, both nodes' work (uk's store included), and up to one local poll of uk's API.")
VIA_WORKSTATION_MEASURED = (
    "the same, but from the operators' workstation, whose own link crosses the switch: the acknowledgement "
    "reaches it one delay late and each poll reaches uk one delay after it leaves, so the two cancel and the "
    "figure is from wales sending the acknowledgement to uk answering the first poll that shows the entry; "
    "it cannot be less than one round trip and is quantised by the poll's round trip (2 x delay + work).")


def delayed_run(args, root, outer):
    """A second federation of five, on links through the delay switch (delayswitch.py: the
    stand-in for `tc netem`, missing from this kernel): onboarded the same way, started,
    converged; then the round trip the switch actually gives between two node hosts, and
    propagation wales -> uk (see PROPAGATION_MEASURED). Expectations failing go to `outer`'s
    failures; the target (p50 within one round trip + 5 ms) is a figure, reported, not a check."""
    topology, names = DELAYED, [n for n, _, _ in NODES]
    network = Network(topology, bridged=False)
    os.makedirs(root, exist_ok=True)
    switch = DelaySwitch(network, args.delay_ms, os.path.join(root, "delayswitch.log"))
    nodes, result = {}, {"delay_ms_one_way": args.delay_ms, "namespaces": network.names,
                         "links": "userspace delay switch over TAP devices (scripts/netns/delayswitch.py); no netem in this kernel"}
    checks = Checks(None, None, None)
    try:
        network.create()
        switch.start()
        hosts = Hosts(root, os.path.abspath(args.quartet), args.unit, args.example, topology)
        hosts.onboard()
        result["rtt_idle"] = connect_rtt(topology, "wales", "uk")
        for node in names:
            nodes[node] = Node(hosts, node)
            nodes[node].start()
        enter_namespace(topology.ops)
        ca = os.path.join(hosts.workstation, "ca.pem")
        reader_files = (os.path.join(hosts.workstation, "reader-analyst.pem"), os.path.join(hosts.workstation, "reader-analyst.key"))
        operator_files = {n: (os.path.join(hosts.etc(n), "pki", f"operator-{n}.pem"), os.path.join(hosts.etc(n), "pki", f"operator-{n}.key"))
                          for n in names}
        checks = Checks(hosts, Client(ca, *reader_files, topology), {n: Client(ca, *operator_files[n], topology) for n in names})
        for node in names:
            checks.append(node, {"hello": node})
        heads = checks.converge(names)
        checks.expect(all(heads[n][0] >= 1 for n in names), "over the delay switch: every node holds every log, roots equal")

        rtt = connect_rtt(topology, "wales", "uk")
        result["rtt"] = rtt
        checks.expect(rtt["min_ms"] >= 2 * args.delay_ms,
                      f"the switch delays every crossing: wales -> uk TCP connect {rtt['min_ms']} ms at least (>= 2 x {args.delay_ms} ms)")
        on_hosts = Checks(hosts, Client(ca, *reader_files, topology, namespace=topology.ns("uk")),
                          {"wales": Client(ca, *operator_files["wales"], topology, namespace=topology.ns("wales"))})
        result.update(on_hosts.propagation(histogram=True))
        result["measured"] = PROPAGATION_MEASURED
        result["via_workstation"] = dict(checks.propagation(histogram=True), measured=VIA_WORKSTATION_MEASURED)
        checks.acknowledged["wales"] += on_hosts.acknowledged["wales"]
        checks.nothing_lost(checks.converge(names))

        bound = round(rtt["p50_ms"] + 5, 2)
        result["target"] = {"p50_ms_at_most": bound, "rule": "p50 <= measured round trip (TCP connect p50) + 5 ms",
                            "met": result["p50_ms"] <= bound}
        print(f"propagation wales -> uk over {args.delay_ms} ms links: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; "
              f"round trip {rtt['p50_ms']} ms; target p50 <= {bound} ms: " + ("met" if result["target"]["met"] else
              "target not met (a figure of this substitute, not a failure)"), flush=True)
        print(f"  (from the workstation, across its own delayed link: p50 {result['via_workstation']['p50_ms']} ms, "
              f"p99 {result['via_workstation']['p99_ms']} ms)", flush=True)
    finally:
        try:
            for node in nodes.values():
                node.stop()
            result["switch"] = switch.stop()
        finally:
            if not args.keep:
                network.destroy()
    stats = result["switch"] or {}
    checks.expect(stats.get("dropped_queue") == 0 and stats.get("dropped_write") == 0,
                  f"the delay switch dropped no frame for want of room or a failed write ({stats})")
    outer.failures.extend(checks.failures)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quartet", required=True, help="the quartet binary")
    parser.add_argument("--unit", required=True, help="the packaged systemd unit (its ExecStart line starts each node)")
    parser.add_argument("--example", required=True, help="the packaged example configuration")
    parser.add_argument("--partition", type=int, default=30, help="seconds england's link is down")
    parser.add_argument("--loss", type=int, default=5, help="percent of packets dropped on every link")
    parser.add_argument("--loss-seconds", type=int, default=60, help="seconds of appends under loss")
    parser.add_argument("--delay-ms", type=float, default=10.0,
                        help="one-way delay per link of the delayed run (the delay switch); 0 skips that run")
    parser.add_argument("--keep", action="store_true", help="leave the namespaces and files for inspection (the delay switch is stopped)")
    args = parser.parse_args()
    if not 0 <= args.delay_ms <= 1000:
        parser.error(f"--delay-ms {args.delay_ms}: must be between 0 and 1000")
    if os.geteuid() != 0:
        raise SystemExit("this test needs root (network namespaces); CI runs as root")
    # SIGTERM (a CI job cancelled) unwinds like an error, so every `finally` below stops the
    # nodes and the delay switch and removes the namespaces.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    root = tempfile.mkdtemp(prefix="quartet-netns-")
    network, nodes, summary = Network(BARE), {}, {"namespaces": [BARE.ns(n) for n, _, _ in NODES]}
    try:
        network.create()
        hosts = Hosts(root, os.path.abspath(args.quartet), args.unit, args.example, BARE)
        hosts.onboard()
        for node, _, _ in NODES:
            nodes[node] = Node(hosts, node)
            nodes[node].start()
        enter_namespace(BARE.ops)
        ca = os.path.join(hosts.workstation, "ca.pem")
        reader = Client(ca, os.path.join(hosts.workstation, "reader-analyst.pem"), os.path.join(hosts.workstation, "reader-analyst.key"))
        operators = {n: Client(ca, os.path.join(hosts.etc(n), "pki", f"operator-{n}.pem"), os.path.join(hosts.etc(n), "pki", f"operator-{n}.key"))
                     for n, _, _ in NODES}
        checks = Checks(hosts, reader, operators)
        names = [n for n, _, _ in NODES]

        # Each organisation imports its plan through its own node's API (the UK plan at uk,
        # Wales's own plan at wales, the UK plan adopted by the others), then convergence and
        # the dashboard at uk.
        plans = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "config", "plans")
        for node in names:
            plan = os.path.join(plans, "wales-plan.yaml" if node == "wales" else "uk-plan.yaml")
            pki = os.path.join(hosts.etc(node), "pki")
            hosts.q("import", "plan", plan, "--config", os.path.join(hosts.etc(node), f"{node}.json"),
                    "--cert", os.path.join(pki, f"operator-{node}.pem"), "--key", os.path.join(pki, f"operator-{node}.key"), space=BARE.ns(node))
            checks.append(node, {"hello": node})
        heads = checks.converge(names)
        checks.expect(all(heads[n][0] >= 1 for n in names), "every node holds every log, roots equal")
        status, page = reader.request("uk", "GET", "/")
        page = page.decode()
        shown = {n: label in page for n, label in [("wales", "Wales"), ("england", "England"), ("scotland", "Scotland"), ("northern-ireland", "Northern Ireland")]}
        checks.expect(status == 200 and all(shown.values()), f"uk's dashboard shows the four nations ({shown})")

        # Propagation on the bare links.
        summary["propagation_wales_to_uk"] = checks.propagation()
        print("propagation wales -> uk:", summary["propagation_wales_to_uk"], flush=True)

        # A partition: england's link down while every node appends, then healed.
        network.link("england", False)
        done, refused = appending(hosts, checks, args.partition, "partition")
        network.link("england", True)
        started = time.time()
        heads = checks.converge(names, timeout=120)
        summary["partition"] = {"seconds": args.partition, "appends": done, "refused": refused, "healed_in_seconds": round(time.time() - started, 2)}
        checks.expect(refused == 0, f"every append during the partition was acknowledged ({done})")
        checks.nothing_lost(heads)
        for node in names:
            bad = checks.alerts(node, allowed=())
            checks.expect(not [k for k in bad if k in ("equivocation", "rejected", "violation", "own-log-ahead")],
                          f"no alert at {node} but the expected lag ({sorted(set(bad))})")

        # Packet loss on every link.
        network.loss(args.loss)
        # The client's own packets are lost too: TCP's retransmission backoff (a SYN lost three
        # times waits 1 + 2 + 4 s) can pass 10 s with no fault of the node's, so the client waits 30.
        done, refused = appending(hosts, checks, args.loss_seconds, "loss", max_time=30)
        network.loss(0)
        started = time.time()
        heads = checks.converge(names, timeout=120)
        summary["loss"] = {"percent": args.loss, "seconds": args.loss_seconds, "appends": done, "refused": refused,
                           "converged_in_seconds": round(time.time() - started, 2)}
        checks.expect(refused == 0, f"every append under {args.loss} % loss was acknowledged ({done})")
        checks.nothing_lost(heads)

        # A member removed: version 2 without northern-ireland, signed by three of five, SIGHUP.
        federation = json.load(open(os.path.join(hosts.workstation, "federation.json")))
        federation["version"] = 2
        federation["nodes"] = [n for n in federation["nodes"] if n["id"] != "northern-ireland"]
        hosts.publish(federation, signers=["uk", "wales", "scotland"])
        remaining = [n for n in names if n != "northern-ireland"]
        for node in remaining:
            nodes[node].signal(signal.SIGHUP)
        deadline = time.time() + 20
        while time.time() < deadline:
            peers = {p["node"] for n in remaining for p in reader.json(n, "/v1/peers")["peers"]}
            if "northern-ireland" not in peers:
                break
            time.sleep(0.3)
        checks.expect("northern-ireland" not in peers, "no remaining node lists northern-ireland after SIGHUP")
        ni = Client(ca, os.path.join(hosts.etc("northern-ireland"), "pki", "northern-ireland.pem"),
                    os.path.join(hosts.etc("northern-ireland"), "pki", "northern-ireland.key"))
        status, _ = ni.request("uk", "GET", "/v1/logs")
        checks.expect(status == 403, f"northern-ireland's node certificate can no longer read uk's API ({status})")
        index = checks.append("wales", {"after": "removal"})
        time.sleep(3)
        ni_heads = checks.heads("northern-ireland")
        checks.expect(ni_heads["wales"][0] <= index, "northern-ireland no longer receives wales's entries")
        checks.expect("reload done" in nodes["uk"].log(), "uk logged the reload")

        # Propagation again, over links with a delay: a second federation of its own.
        for node in nodes.values():
            node.stop()
        if args.delay_ms > 0:
            summary["propagation_wales_to_uk_delayed"] = delayed_run(args, os.path.join(root, "delayed"), checks)

        summary["failures"] = checks.failures
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 1 if checks.failures else 0
    finally:
        for node in nodes.values():
            node.stop()
        if not args.keep:
            network.destroy()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A userspace layer-2 switch whose links have a delay: the stand-in for `tc netem`.

`tc netem` (the issue's way to give every link 10 ms of delay) is missing from this machine's
kernel (CONFIG_NET_SCH_NETEM is not set, and there is no fq/EDT qdisc either), so the kernel
cannot hold packets back. This switch does it in userspace instead: it makes one TAP device per
host (/dev/net/tun, IFF_TAP | IFF_NO_PI) in its own namespace, moves each device into its host's
namespace (`ip link set TAP netns NS`; the switch's file descriptor stays attached), gives it the
host's address there and brings it up. Then one loop reads the Ethernet frames every host sends,
learns which port each source MAC is behind (up to 4096 of them), and forwards each frame (to
the learned port, else to every other port; broadcast and multicast to every other port) after
--delay-ms, counted as the frame leaves the switch on the receiver's link. So one frame crosses one delay from host to
host and a round trip costs two: --delay-ms 10 gives 20 ms, what netem on each link's egress
would. --loss drops that percentage of the frames leaving the switch, at random.

Frames wait in one heap of (due time, sequence, port, frame) and are written in due order.
Each port holds at most --queue-limit frames waiting; past that a frame is dropped and counted,
so the switch cannot grow without bound. The loop waits with select(2), whose timeout is in
microseconds (epoll's and poll's are in milliseconds and would add up to 1 ms per frame), and
the process asks for 1 µs of timer slack; how late frames actually left is in the statistics.
netem does its work in the kernel, ahead of every process; a stand-in at normal priority would
wait behind the very nodes whose traffic it holds (on a busy two-core machine, frames left up to
50 ms late), so the switch asks for SCHED_FIFO (--priority, 0 for normal scheduling) and says in
its ready line what it got. The kernel's real-time throttling (95 % of a second) still bounds it.

Being userspace, the switch adds its own cost to every crossing: a read, a wake-up and a write
in Python on a shared machine. On this two-core machine, with 10 ms, a TCP connect between two
hosts took 20.3 to 20.6 ms (p50) and frames left on average 0.1 to 0.6 ms late under the
federation's load, a few up to 20 ms late. Measure the round trip through it (the caller does,
by TCP connect time) rather than assume it.

Usage (root; the namespaces must exist):
  delayswitch.py --delay-ms 10 [--loss 0] [--tap-prefix dsw] --port NS=ADDRESS/PREFIX ...
Prints one JSON line once every port is up ({"ready": true, "ports": [...]}), then runs until
its standard input closes or it gets SIGTERM/SIGINT, and prints one JSON line of statistics:
frames received, forwarded (one per copy written), dropped (by queue limit, by --loss, by a
failed write, and frames the learned table says go back where they came from), the largest
queue of any port, and how late frames were written against their due time (mean, largest, and
how many were late by at most 50 µs, 100 µs, ... ).
"""
import argparse
import ctypes
import fcntl
import heapq
import ipaddress
import json
import os
import random
import selectors
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI = 0x0002, 0x1000
PR_SET_TIMERSLACK = 29
LATE_BUCKETS_US = (50, 100, 200, 500, 1000, 2000, 5000, 20000)
FRAME_BUFFER = 65536
MAX_PORTS = 64
MAX_LEARNED = 4096  # source MACs remembered; past that, frames to unknown MACs are flooded


class Stop(Exception):
    """Raised by the signal handler to leave the loop."""


class Port:
    """One TAP device: its file descriptor, name, host namespace and frames waiting for it."""

    def __init__(self, index, fd, name, namespace):
        self.index, self.fd, self.name, self.namespace = index, fd, name, namespace
        self.queued = 0


def parse_port(text):
    """NS=ADDRESS/PREFIX, checked: a namespace name ip(8) accepts and an IPv4 interface address."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--port {text!r}: expected NAMESPACE=ADDRESS/PREFIX")
    namespace, address = text.split("=", 1)
    if not namespace or len(namespace) > 64 or not all(c.isalnum() or c in "-_." for c in namespace):
        raise argparse.ArgumentTypeError(f"--port {text!r}: namespace {namespace!r} is not a plain name")
    try:
        interface = ipaddress.IPv4Interface(address)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--port {text!r}: {error}")
    if "/" not in address:
        raise argparse.ArgumentTypeError(f"--port {text!r}: the address needs its prefix length (/24)")
    return namespace, str(interface)


def ip(*args):
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"delayswitch: ip {' '.join(args)} failed: {result.stderr.strip()}")


def open_tap(name):
    """A new TAP device `name` in this namespace; returns the non-blocking fd attached to it."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        request = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI)
        answer = fcntl.ioctl(fd, TUNSETIFF, request)
    except OSError as error:
        os.close(fd)
        raise SystemExit(f"delayswitch: TUNSETIFF {name}: {error}")
    made = answer[:16].rstrip(b"\0").decode()
    if made != name:
        os.close(fd)
        raise SystemExit(f"delayswitch: asked for TAP {name}, got {made}")
    return fd


def attach(ports, prefix):
    """Makes a TAP per (namespace, address), moves it there, addresses it and brings it up."""
    made = []
    try:
        for index, (namespace, address) in enumerate(ports):
            name = f"{prefix}{index}"
            fd = open_tap(name)
            made.append(Port(index, fd, name, namespace))
            ip("link", "set", name, "netns", namespace)
            ip("-n", namespace, "addr", "add", address, "dev", name)
            ip("-n", namespace, "link", "set", name, "up")
    except BaseException:
        for port in made:
            os.close(port.fd)
        raise
    return made


def realtime(priority):
    """SCHED_FIFO at `priority` if allowed; says what this process got."""
    if priority == 0:
        return "normal"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as error:
        return f"normal (SCHED_FIFO refused: {error.strerror})"
    return f"SCHED_FIFO {priority}"


class Switch:
    """The learning switch with delayed egress (see the module's description)."""

    def __init__(self, ports, delay, loss, queue_limit, rng=random.random):
        self.ports, self.delay, self.loss, self.queue_limit, self.rng = ports, delay, loss, queue_limit, rng
        self.table = {}
        self.heap = []
        self.sequence = 0
        self.stats = {"received": 0, "forwarded": 0, "dropped_queue": 0, "dropped_loss": 0, "dropped_write": 0,
                      "dropped_hairpin": 0, "dropped_runt": 0, "max_queue": 0, "late_us_max": 0.0, "late_us_mean": 0.0}
        self.late_total = 0.0
        self.late_counts = [0] * (len(LATE_BUCKETS_US) + 1)

    def receive(self, port, frame, now):
        """Learns the frame's source and queues a copy for each port it goes to."""
        self.stats["received"] += 1
        if len(frame) < 14:
            self.stats["dropped_runt"] += 1
            return
        destination, source = frame[0:6], frame[6:12]
        if not source[0] & 1 and (source in self.table or len(self.table) < MAX_LEARNED):
            self.table[source] = port
        if destination[0] & 1:
            targets = [p for p in self.ports if p is not port]
        else:
            learned = self.table.get(destination)
            if learned is port:
                self.stats["dropped_hairpin"] += 1
                return
            targets = [learned] if learned is not None else [p for p in self.ports if p is not port]
        due = now + self.delay
        for target in targets:
            if self.loss > 0 and self.rng() * 100 < self.loss:
                self.stats["dropped_loss"] += 1
                continue
            if target.queued >= self.queue_limit:
                self.stats["dropped_queue"] += 1
                continue
            target.queued += 1
            self.stats["max_queue"] = max(self.stats["max_queue"], target.queued)
            self.sequence += 1
            heapq.heappush(self.heap, (due, self.sequence, target, frame))

    def flush(self, now):
        """Writes every frame due by `now`, in due order."""
        while self.heap and self.heap[0][0] <= now:
            due, _, target, frame = heapq.heappop(self.heap)
            target.queued -= 1
            try:
                os.write(target.fd, frame)
            except OSError:
                self.stats["dropped_write"] += 1
                continue
            late = (time.monotonic() - due) * 1e6
            self.stats["forwarded"] += 1
            self.late_total += late
            self.stats["late_us_max"] = max(self.stats["late_us_max"], late)
            self.late_counts[next((i for i, bound in enumerate(LATE_BUCKETS_US) if late <= bound), len(LATE_BUCKETS_US))] += 1

    def timeout(self, now):
        return None if not self.heap else max(0.0, self.heap[0][0] - now)

    def run(self, control):
        """The loop: until `control` (standard input) reaches its end."""
        selector = selectors.SelectSelector()
        for port in self.ports:
            selector.register(port.fd, selectors.EVENT_READ, port)
        selector.register(control, selectors.EVENT_READ, None)
        while True:
            events = selector.select(self.timeout(time.monotonic()))
            for key, _ in events:
                if key.data is None:
                    if not os.read(control, 4096):
                        return
                    continue
                while True:
                    try:
                        frame = os.read(key.fd, FRAME_BUFFER)
                    except BlockingIOError:
                        break
                    except OSError:
                        break
                    if not frame:
                        break
                    self.receive(key.data, frame, time.monotonic())
            self.flush(time.monotonic())

    def report(self):
        stats = dict(self.stats)
        if stats["forwarded"]:
            stats["late_us_mean"] = self.late_total / stats["forwarded"]
        stats["late_us_max"] = round(stats["late_us_max"], 1)
        stats["late_us_mean"] = round(stats["late_us_mean"], 1)
        stats["late_frames"] = {f"<={b}us": n for b, n in zip(LATE_BUCKETS_US, self.late_counts)}
        stats["late_frames"][f">{LATE_BUCKETS_US[-1]}us"] = self.late_counts[-1]
        stats["waiting_at_stop"] = len(self.heap)
        return stats


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=10.0, help="one-way delay per frame (ms, 0..1000)")
    parser.add_argument("--loss", type=float, default=0.0, help="percent of frames dropped at random (0..100)")
    parser.add_argument("--queue-limit", type=int, default=10000, help="frames waiting per port at most")
    parser.add_argument("--priority", type=int, default=10, help="SCHED_FIFO priority (1..99); 0 keeps normal scheduling")
    parser.add_argument("--tap-prefix", default="dsw", help="TAP names are PREFIX0, PREFIX1, ... (at most 8 characters)")
    parser.add_argument("--port", type=parse_port, action="append", required=True, help="NAMESPACE=ADDRESS/PREFIX, one per host")
    args = parser.parse_args()
    if not 0 <= args.delay_ms <= 1000:
        parser.error(f"--delay-ms {args.delay_ms}: must be between 0 and 1000")
    if not 0 <= args.loss <= 100:
        parser.error(f"--loss {args.loss}: must be between 0 and 100")
    if not 1 <= args.queue_limit <= 1_000_000:
        parser.error(f"--queue-limit {args.queue_limit}: must be between 1 and 1000000")
    if not (1 <= len(args.tap_prefix) <= 8 and args.tap_prefix.isalnum()):
        parser.error(f"--tap-prefix {args.tap_prefix!r}: 1 to 8 letters or digits")
    if not 2 <= len(args.port) <= MAX_PORTS:
        parser.error(f"{len(args.port)} ports: a switch needs 2 to {MAX_PORTS}")
    if len({n for n, _ in args.port}) != len(args.port):
        parser.error("each namespace may have one port only")
    if not 0 <= args.priority <= 99:
        parser.error(f"--priority {args.priority}: must be between 0 and 99")
    if os.geteuid() != 0:
        raise SystemExit("delayswitch: needs root (TAP devices, namespaces)")

    def stop(_signum, _frame):
        raise Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # Wake-ups as close to the due time as the kernel allows (the default slack is 50 µs).
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)

    ports = []
    switch = None
    try:
        ports = attach(args.port, args.tap_prefix)
        scheduling = realtime(args.priority)  # after `ip` has run: its children need no priority
        switch = Switch(ports, args.delay_ms / 1000.0, args.loss, args.queue_limit)
        print(json.dumps({"ready": True, "delay_ms": args.delay_ms, "loss": args.loss, "scheduling": scheduling,
                          "ports": [{"tap": p.name, "namespace": p.namespace} for p in ports]}), flush=True)
        switch.run(sys.stdin.fileno())
    except Stop:
        pass
    finally:
        # Closing the fds removes the TAP devices (they are not persistent), wherever they are.
        for port in ports:
            os.close(port.fd)
        if switch is not None:
            print(json.dumps({"stats": switch.report()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""TCP relay for the netns identity-relay scenario.

Listens on --listen-ip:--port and forwards every accepted connection, both
directions, to --target-ip:--target-port: the attacker sits between a victim
and the device whose Noise static key it claimed, without any key material,
and only moves bytes. Every wait is bounded (--seconds overall, and the
number of connections is capped).

Writes lines to --out (flushed): "listening", "connection <peer>",
"target-connected <peer>", "closed <peer> up=<bytes> down=<bytes>", where up
is victim -> target and down is target -> victim.
"""
import argparse
import select
import socket
import sys
import time

MAX_CONNS = 16


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-ip", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--target-ip", required=True)
    ap.add_argument("--target-port", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = open(a.out, "a", buffering=1)
    deadline = time.monotonic() + a.seconds

    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((a.listen_ip, a.port))
    lst.listen(8)
    out.write("listening\n")

    # peer socket -> [other socket, victim address, direction, counters]
    pairs = {}
    accepted = 0

    def close_pair(s):
        other, peer, _, counts = pairs.pop(s)
        pairs.pop(other, None)
        s.close()
        other.close()
        out.write("closed %s up=%d down=%d\n" % (peer, counts[0], counts[1]))

    while time.monotonic() < deadline:
        r, _, _ = select.select([lst] + list(pairs), [], [], 0.2)
        for s in r:
            if s is lst:
                conn, peer = lst.accept()
                accepted += 1
                out.write("connection %s\n" % peer[0])
                if accepted > MAX_CONNS:
                    conn.close()
                    continue
                try:
                    up = socket.create_connection((a.target_ip, a.target_port),
                                                  timeout=5)
                except OSError:
                    conn.close()
                    continue
                out.write("target-connected %s\n" % peer[0])
                counts = [0, 0]
                pairs[conn] = [up, peer[0], 0, counts]
                pairs[up] = [conn, peer[0], 1, counts]
                continue
            if s not in pairs:
                continue  # its partner closed it earlier in this round
            other, _, direction, counts = pairs[s]
            try:
                data = s.recv(65536)
                if data:
                    other.sendall(data)
            except OSError:
                data = b""
            if not data:
                close_pair(s)
                continue
            counts[direction] += len(data)
    for s in list(pairs):
        if s in pairs:
            close_pair(s)
    lst.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

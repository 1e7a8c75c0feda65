#!/usr/bin/env python3
"""ipc_tool.py - a small independent local API client for test_daemon.sh.

Speaks the wire format of docs/PROTOCOL.md "Local API" directly (not
through libdsb), to send garbage and to run many stream cycles fast.

  ipc_tool.py garbage SOCK              malformed packets, mid-request quits
  ipc_tool.py cycles SOCK DEVICE SERVICE N   N stream open/close cycles
  ipc_tool.py sink SOCK SERVICE         publish SERVICE, close every stream
Exit status 0 on success; one line on stderr on failure.
"""
import os
import random
import socket
import struct
import sys
import time

MAX_MSG = 65536


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    s.connect(path)
    return s


def recv(s):
    """One packet and the descriptors that came with it."""
    data, anc, _flags, _addr = s.recvmsg(MAX_MSG + 1, socket.CMSG_SPACE(16))
    fds = []
    for level, typ, payload in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            n = len(payload) // 4
            fds.extend(struct.unpack("%di" % n, payload[: 4 * n]))
    return data, fds


def s8(text):
    b = text.encode()
    return bytes([len(b)]) + b


def hello(s, nonce=1, flags=0):
    s.send(bytes([0x01, 1, flags]) + struct.pack(">Q", nonce))
    while True:
        data, fds = recv(s)
        for fd in fds:
            os.close(fd)
        if data and data[0] == 0x81 and data[-8:] == struct.pack(">Q", nonce):
            status = struct.unpack(">i", data[1:5])[0]
            if status != 0:
                raise SystemExit("hello refused: %d" % status)
            return


def reply_for(s, op, nonce):
    """Wait for the reply to (op, nonce); events are skipped (fds closed)."""
    while True:
        data, fds = recv(s)
        if not data:
            raise SystemExit("daemon closed the connection")
        if data[0] in (op | 0x80, 0xFF) and data[-8:] == struct.pack(">Q", nonce):
            return data, fds
        for fd in fds:
            os.close(fd)


def garbage(path):
    rnd = random.Random(7)  # deterministic
    # 1. Packets too short to carry a nonce: the daemon disconnects.
    s = connect(path)
    s.send(b"\x01")
    data, _ = recv(s)
    if data:
        raise SystemExit("short packet was answered instead of disconnected")
    s.close()
    # 2. Addressable but malformed requests: error replies, same connection.
    s = connect(path)
    cases = [
        bytes([0x09]) + b"\x00" * 5 + struct.pack(">Q", 11),  # truncated OPEN
        bytes([0x3E]) + struct.pack(">Q", 12),  # unknown op
        bytes([0x07, 3]) + b"a b" + struct.pack(">Q", 13),  # bad service
        bytes([0x01, 9, 0]) + struct.pack(">Q", 14),  # bad version
        bytes([0x02, 0]) + struct.pack(">Q", 15),  # trailing byte
    ]
    for pkt in cases:
        s.send(pkt)
        nonce = struct.unpack(">Q", pkt[-8:])[0]
        data, fds = reply_for(s, pkt[0] if pkt[0] < 0x40 else 0x7F, nonce)
        status = struct.unpack(">i", data[1:5])[0]
        if status >= 0 or fds:
            raise SystemExit("malformed request got status %d" % status)
    hello(s, nonce=99)  # the connection still works
    s.close()
    # 3. Random bytes, many connections; some are dropped, none crash it.
    for i in range(50):
        s = connect(path)
        for _ in range(rnd.randint(1, 20)):
            n = rnd.randint(0, 300)
            try:
                s.send(bytes(rnd.getrandbits(8) for _ in range(n)) or b"\x00")
            except OSError:
                break
        s.close()
    # 4. Oversize packet: disconnected.
    s = connect(path)
    try:
        s.send(b"\x02" * (MAX_MSG + 100))
        data, _ = recv(s)
    except OSError:
        data = b""
    s.close()
    # 5. Disconnect mid-request: an OPEN whose reply never gets read.
    for i in range(20):
        s = connect(path)
        dev = bytes(rnd.getrandbits(8) for _ in range(16))
        s.send(bytes([0x09]) + dev + s8("echo") + b"\x00\x00" + struct.pack(">Q", 5))
        s.close()
    # The daemon still serves a fresh client.
    s = connect(path)
    hello(s, nonce=1234)
    s.close()
    return 0


TOO_MANY_STREAMS = -608  # DSB_ERR_MUX_TOO_MANY_STREAMS


def cycles(path, device, service, n):
    """Open and close N streams. A stream this side closed stays counted
    until the remote app has closed its end too; when the remote app lags
    (a loaded machine), the 128-stream limit answers TOO_MANY_STREAMS,
    which is correct backpressure: wait (bounded) for the backlog to drain
    and retry. A real leak never drains and still fails."""
    dev = bytes.fromhex(device)
    s = connect(path)
    hello(s)
    nonce = 1000
    waits = 0
    for i in range(n):
        deadline = time.monotonic() + 10
        while True:
            nonce += 1
            s.send(bytes([0x09]) + dev + s8(service) + b"\x00\x00" + struct.pack(">Q", nonce))
            data, fds = reply_for(s, 0x09, nonce)
            status = struct.unpack(">i", data[1:5])[0]
            if status == TOO_MANY_STREAMS and not fds and time.monotonic() < deadline:
                waits += 1
                time.sleep(0.01)
                continue
            break
        if status != 0 or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise SystemExit("cycle %d: open failed with status %d" % (i, status))
        os.close(fds[0])
    s.close()
    if waits:
        print("cycles: waited %d times for the remote app to catch up" % waits)
    return 0


def sink(path, service):
    s = connect(path)
    s.settimeout(None)
    hello(s)
    s.send(bytes([0x07]) + s8(service) + struct.pack(">Q", 2))
    data, _ = reply_for(s, 0x07, 2)
    if struct.unpack(">i", data[1:5])[0] != 0:
        raise SystemExit("publish failed")
    print("ready", flush=True)
    while True:
        data, fds = recv(s)
        if not data:
            return 0
        for fd in fds:
            os.close(fd)


def main(argv):
    if len(argv) >= 3 and argv[1] == "garbage":
        return garbage(argv[2])
    if len(argv) == 6 and argv[1] == "cycles":
        return cycles(argv[2], argv[3], argv[4], int(argv[5]))
    if len(argv) == 4 and argv[1] == "sink":
        return sink(argv[2], argv[3])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

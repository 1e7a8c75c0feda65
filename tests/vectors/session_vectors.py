#!/usr/bin/env python3
"""Golden vectors for the session wire format (docs/PROTOCOL.md, "Sessions").

Writes tests/vectors/session_xk.hex: one Noise_XK_25519_ChaChaPoly_BLAKE2s
handshake between two fixed identities with fixed ephemeral keys, with the
session prologue and payloads, then one record each way. Independent of the
C code: Noise (revision 34) is written out here from the specification over
the Python `cryptography` package and hashlib, so the C test that compares
against this file checks the implementation against the spec, not itself.

Usage: python3 tests/vectors/session_vectors.py > tests/vectors/session_xk.hex
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey, X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PROTOCOL = b"Noise_XK_25519_ChaChaPoly_BLAKE2s"
PROLOGUE = b"dsoftbus-lite/session/v1"
VERSION = 1
DEVICE_ID_LABEL = b"dsoftbus-lite/device-id/v1"
CERT_LABEL = b"dsoftbus-lite/static-key-cert/v1"
RAW = (Encoding.Raw, PublicFormat.Raw)


def seq(start):
    return bytes(range(start, start + 32))


def H(data):
    return hashlib.blake2s(data).digest()


def hkdf(ck, ikm, n):
    temp = hmac.new(ck, ikm, hashlib.blake2s).digest()
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = hmac.new(temp, prev + bytes([i]), hashlib.blake2s).digest()
        out.append(prev)
    return out


def x25519_pub(sk):
    return X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(*RAW)


def dh(sk, pk):
    return X25519PrivateKey.from_private_bytes(sk).exchange(
        X25519PublicKey.from_public_bytes(pk))


def nonce(n):
    return b"\0" * 4 + struct.pack("<Q", n)


class Symmetric:
    def __init__(self):
        self.h = PROTOCOL if len(PROTOCOL) <= 32 else H(PROTOCOL)
        self.h = self.h.ljust(32, b"\0")
        self.ck = self.h
        self.k, self.n = None, 0

    def mix_hash(self, data):
        self.h = H(self.h + data)

    def mix_key(self, ikm):
        self.ck, self.k = hkdf(self.ck, ikm, 2)
        self.n = 0

    def encrypt_and_hash(self, pt):
        ct = pt
        if self.k is not None:
            ct = ChaCha20Poly1305(self.k).encrypt(nonce(self.n), pt, self.h)
            self.n += 1
        self.mix_hash(ct)
        return ct

    def split(self):
        return hkdf(self.ck, b"", 2)


class Identity:
    def __init__(self, ed_seed, static_sk):
        self.ed_seed, self.static_sk = ed_seed, static_sk
        key = Ed25519PrivateKey.from_private_bytes(ed_seed)
        self.ed_pk = key.public_key().public_bytes(*RAW)
        self.static_pk = x25519_pub(static_sk)
        self.device_id = H(DEVICE_ID_LABEL + self.ed_pk)[:16]
        self.cert = key.sign(CERT_LABEL + self.static_pk + self.device_id)

    def proof_payload(self):
        return bytes([VERSION]) + self.ed_pk + self.static_pk + self.cert


def frame(msg):
    return struct.pack(">H", len(msg)) + msg


def main():
    ini = Identity(seq(0x00), seq(0x20))
    res = Identity(seq(0x40), seq(0x60))
    ie, re_ = seq(0x80), seq(0xa0)
    ie_pub, re_pub = x25519_pub(ie), x25519_pub(re_)

    ss = Symmetric()
    ss.mix_hash(PROLOGUE)
    ss.mix_hash(res.static_pk)  # <- s
    # -> e, es; payload: version
    p1 = bytes([VERSION])
    ss.mix_hash(ie_pub)
    ss.mix_key(dh(ie, res.static_pk))
    msg1 = ie_pub + ss.encrypt_and_hash(p1)
    # <- e, ee; payload: responder's proof
    p2 = res.proof_payload()
    ss.mix_hash(re_pub)
    ss.mix_key(dh(re_, ie_pub))
    msg2 = re_pub + ss.encrypt_and_hash(p2)
    # -> s, se; payload: initiator's proof
    p3 = ini.proof_payload()
    enc_s = ss.encrypt_and_hash(ini.static_pk)
    ss.mix_key(dh(ini.static_sk, re_pub))
    msg3 = enc_s + ss.encrypt_and_hash(p3)
    k1, k2 = ss.split()

    rec_i = b"dsoftbus-lite record from the initiator"
    rec_r = b"and one from the responder"
    record1 = frame(ChaCha20Poly1305(k1).encrypt(nonce(0), rec_i, b""))
    record2 = frame(ChaCha20Poly1305(k2).encrypt(nonce(0), rec_r, b""))

    out = [
        "# Session handshake and records, version 1 (docs/PROTOCOL.md,",
        "# \"Sessions\"). Noise_XK_25519_ChaChaPoly_BLAKE2s with the session",
        "# prologue; fixed identities and fixed ephemeral keys (the raw 32 bytes",
        "# given to X25519). Messages and records are framed (u16be length",
        "# first), exactly as on the wire. Computed independently of the C code",
        "# by tests/vectors/session_vectors.py (Python cryptography, hashlib).",
        "initiator_ed_seed: " + ini.ed_seed.hex(),
        "initiator_static_sk: " + ini.static_sk.hex(),
        "initiator_ephemeral_sk: " + ie.hex(),
        "initiator_device_id: " + ini.device_id.hex(),
        "responder_ed_seed: " + res.ed_seed.hex(),
        "responder_static_sk: " + res.static_sk.hex(),
        "responder_ephemeral_sk: " + re_.hex(),
        "responder_device_id: " + res.device_id.hex(),
        "responder_static_pk: " + res.static_pk.hex(),
        "prologue: " + PROLOGUE.hex(),
        "payload1: " + p1.hex(),
        "payload2: " + p2.hex(),
        "payload3: " + p3.hex(),
        "msg1: " + frame(msg1).hex(),
        "msg2: " + frame(msg2).hex(),
        "msg3: " + frame(msg3).hex(),
        "handshake_hash: " + ss.h.hex(),
        "record1_plaintext: " + rec_i.hex(),
        "record1: " + record1.hex(),
        "record2_plaintext: " + rec_r.hex(),
        "record2: " + record2.hex(),
    ]
    print("\n".join(out))


if __name__ == "__main__":
    main()

"""Prism's Wire signing, written again in Python for benchmarks that must make many signed requests fast:
ed25519 identities as `ed25519:<base58>`, and the domain-separated envelope digest of Sources/Wire/SignedEnvelope.swift."""
import base64, hashlib, json, os, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
DOMAIN = b"prism-wire-envelope-v1"


def base58(data):
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = ALPHABET[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def digest(method, path, timestamp, nonce, body):
    parts = [DOMAIN, method.upper().encode(), path.encode(), str(timestamp).encode(), nonce, hashlib.sha256(body).digest()]
    return hashlib.sha256(b"".join(len(p).to_bytes(4, "big") + p for p in parts)).digest()


def canonical(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class Identity:
    def __init__(self):
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.id = "ed25519:" + base58(raw)

    def envelope(self, body, method, path):
        """The envelope's canonical JSON text around `body` (bytes) for `method path`."""
        timestamp, nonce = int(time.time()), os.urandom(16)
        signature = self.key.sign(digest(method, path, timestamp, nonce, body))
        return canonical({"body": base64.b64encode(body).decode(), "signer": self.id, "timestamp": timestamp,
                          "nonce": base64.b64encode(nonce).decode(), "signature": base64.b64encode(signature).decode()}).decode()

    def header(self, body, method, path):
        """The X-Prism-Envelope header value: base64 of the envelope's JSON."""
        return base64.b64encode(self.envelope(body, method, path).encode()).decode()

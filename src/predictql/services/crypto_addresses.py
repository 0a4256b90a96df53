"""On-chain address checks for crypto withdrawals: pure, standard library only.

* **TRON**: base58check of 25 bytes: ``0x41`` + the 20-byte account + the first 4 bytes of
  SHA-256(SHA-256(first 21 bytes)). Printable addresses start with ``T``.
* **EVM** (bsc, polygon, ethereum, avalanche C-chain): ``0x`` + 40 hex digits. All lower or all
  upper case carries no checksum; mixed case must be the EIP-55 checksum (each letter upper case
  where the matching nibble of keccak-256(lower-case hex) is 8 or more).

Python's ``hashlib.sha3_256`` is the standardised SHA-3 (padding ``0x06``), not the keccak-256 that
Ethereum uses (padding ``0x01``); no installed dependency provides keccak, so it is here, checked
against the published test vectors in ``tests/unit/test_crypto_addresses.py``.
"""

from __future__ import annotations

import hashlib

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: i for i, char in enumerate(_ALPHABET)}
_HEX = frozenset("0123456789abcdefABCDEF")

# keccak-f[1600]: round constants and rotation offsets (FIPS 202 / the Keccak reference).
_RC = (
    0x0000000000000001,
    0x0000000000008082,
    0x800000000000808A,
    0x8000000080008000,
    0x000000000000808B,
    0x0000000080000001,
    0x8000000080008081,
    0x8000000000008009,
    0x000000000000008A,
    0x0000000000000088,
    0x0000000080008009,
    0x000000008000000A,
    0x000000008000808B,
    0x800000000000008B,
    0x8000000000008089,
    0x8000000000008003,
    0x8000000000008002,
    0x8000000000000080,
    0x000000000000800A,
    0x800000008000000A,
    0x8000000080008081,
    0x8000000000008080,
    0x0000000080000001,
    0x8000000080008008,
)
_ROT = (
    (0, 36, 3, 41, 18),
    (1, 44, 10, 45, 2),
    (62, 6, 43, 15, 61),
    (28, 55, 25, 21, 56),
    (27, 20, 39, 8, 14),
)
_MASK = (1 << 64) - 1


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def _keccak_f(state: list[list[int]]) -> None:
    for rc in _RC:
        c = [state[x][0] ^ state[x][1] ^ state[x][2] ^ state[x][3] ^ state[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rotl(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                state[x][y] ^= d[x]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rotl(state[x][y], _ROT[x][y])
        for x in range(5):
            for y in range(5):
                state[x][y] = b[x][y] ^ (~b[(x + 1) % 5][y] & b[(x + 2) % 5][y])
        state[0][0] ^= rc


def sponge256(data: bytes, pad: int) -> bytes:
    """The keccak sponge at rate 136 bytes, 32 bytes out: ``pad`` 0x01 is keccak-256, 0x06 SHA3-256
    (the second lets a test check the permutation against ``hashlib.sha3_256``)."""
    rate = 136
    padded = bytearray(data) + bytes([pad]) + b"\x00" * ((-len(data) - 1) % rate)
    padded[-1] |= 0x80
    state = [[0] * 5 for _ in range(5)]
    for start in range(0, len(padded), rate):
        block = padded[start : start + rate]
        for i in range(rate // 8):
            state[i % 5][i // 5] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _keccak_f(state)
    return b"".join(state[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak-256 (the original Keccak padding 0x01 ... 0x80)."""
    return sponge256(data, 0x01)


def eip55(hex40: str) -> str:
    """The EIP-55 checksummed form of 40 hex digits (without ``0x``)."""
    lower = hex40.lower()
    digest = keccak256(lower.encode("ascii")).hex()
    return "".join(ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch for i, ch in enumerate(lower))


def valid_evm(address: str) -> bool:
    if len(address) != 42 or not address.startswith("0x") or not set(address[2:]) <= _HEX:
        return False
    body = address[2:]
    if body == body.lower() or body == body.upper():
        return True  # no checksum to verify
    return body == eip55(body)


def b58decode(text: str) -> bytes | None:
    number = 0
    for char in text:
        digit = _INDEX.get(char)
        if digit is None:
            return None
        number = number * 58 + digit
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + raw


def b58check_encode(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, digit = divmod(number, 58)
        out = _ALPHABET[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\x00"))) + out


def valid_tron(address: str) -> bool:
    if len(address) != 34 or not address.startswith("T"):
        return False
    raw = b58decode(address)
    if raw is None or len(raw) != 25 or raw[0] != 0x41:
        return False
    payload, checksum = raw[:21], raw[21:]
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum


def valid_address(network: str, address: str) -> bool:
    """``address`` is a well-formed, checksum-correct address on ``network``."""
    return valid_tron(address) if network == "tron" else valid_evm(address)

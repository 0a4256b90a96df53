"""The address checks of crypto withdrawals against published vectors."""

from __future__ import annotations

import hashlib

import pytest

from predictql.services.crypto_addresses import (
    b58check_encode,
    eip55,
    keccak256,
    sponge256,
    valid_address,
    valid_evm,
    valid_tron,
)

# EIP-55's own examples (https://eips.ethereum.org/EIPS/eip-55)
EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


def test_keccak256_vectors() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    fox = b"The quick brown fox jumps over the lazy dog"
    assert keccak256(fox).hex() == "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"


@pytest.mark.parametrize("size", [0, 1, 135, 136, 137, 271, 272, 1000])
def test_the_permutation_matches_hashlib_sha3_on_every_block_boundary(size: int) -> None:
    data = (bytes(range(256)) * 4)[:size]
    assert sponge256(data, 0x06) == hashlib.sha3_256(data).digest()


@pytest.mark.parametrize("address", EIP55)
def test_eip55_examples(address: str) -> None:
    assert eip55(address[2:]) == address[2:]
    assert valid_evm(address) and valid_evm(address.lower()) and valid_evm("0x" + address[2:].upper())
    flipped = next(i for i, ch in enumerate(address) if i > 1 and ch.isalpha())
    broken = address[:flipped] + address[flipped].swapcase() + address[flipped + 1 :]
    assert not valid_evm(broken)


def test_evm_shapes() -> None:
    assert not valid_evm("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
    assert not valid_evm("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe")
    assert not valid_evm("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg")


def test_tron_base58check() -> None:
    usdt = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"  # the USDT TRC-20 contract
    assert valid_tron(usdt) and valid_address("tron", usdt)
    assert not valid_tron(usdt[:-1] + "u")  # checksum
    assert not valid_tron("0" + usdt[1:])  # not base58
    assert not valid_tron(b58check_encode(b"\x42" + bytes(20)))  # wrong version byte
    made = b58check_encode(b"\x41" + bytes(range(20)))
    assert made.startswith("T") and valid_tron(made)
    assert not valid_address("bsc", usdt) and not valid_address("tron", EIP55[0])

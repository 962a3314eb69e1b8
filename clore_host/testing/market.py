"""A realistic, seeded market for the emulator: `marketplace` listings and spot offers.

A few thousand servers over many GPU models and counts, near-miss names side by side ("RTX
4090" and "RTX 4090 D", "RTX A4000" and "RTX 4000 Ada Generation"), the same model spelt with
and without "NVIDIA" and in odd case and spacing, owners with one listing and owners with a
hundred, the account's own servers among them, rented flags that follow price, and the junk a
market anyone can write to holds: prices missing, zero, negative, strings, null or absurd,
fields of the wrong type, offline servers, a machine listed twice, `gpu_array` (sometimes
nested). The same seed gives the same market, byte for byte.
"""

from __future__ import annotations

import math
import random
from typing import Any

# Per-GPU on-demand price per day in bitcoin, and how common each model is.
MODELS: tuple[tuple[str, float, int], ...] = (
    ("GeForce RTX 4090", 0.000090, 30),
    ("GeForce RTX 4090 D", 0.000075, 6),
    ("GeForce RTX 5090", 0.000140, 6),
    ("GeForce RTX 4080 SUPER", 0.000060, 6),
    ("GeForce RTX 4080", 0.000055, 5),
    ("GeForce RTX 4070 Ti", 0.000040, 5),
    ("GeForce RTX 3090", 0.000045, 14),
    ("GeForce RTX 3090 Ti", 0.000050, 4),
    ("GeForce RTX 3080", 0.000030, 6),
    ("GeForce RTX 3060", 0.000015, 5),
    ("GeForce GTX 1080 Ti", 0.000010, 3),
    ("RTX A4000", 0.000030, 3),
    ("RTX 4000 Ada Generation", 0.000040, 2),
    ("RTX A6000", 0.000090, 2),
    ("A100 80GB PCIe", 0.000300, 2),
    ("H100 80GB HBM3", 0.000600, 1),
)
COUNTS: tuple[tuple[int, int], ...] = ((1, 45), (2, 25), (4, 15), (8, 10), (3, 3), (6, 2))
CPUS = ("AMD Ryzen 9 7950X", "AMD EPYC 7542 32-Core Processor", "Intel Core i9-13900K")
COUNTRIES = ("CZ", "DE", "US", "PL", "FI", "CA", "UA", "NL", "SE", "HK")
# USD per coin, as spot_marketplace reportedly sends them.
DEFAULT_RATES: dict[str, float] = {
    "bitcoin": 97000.0,
    "CLORE-Blockchain": 0.021,
    "USD-Blockchain": 1.0,
}
FIRST_ID = 1000  # listing ids start here, clear of the account's own servers in the state


def marketplace_listings(
    seed: int = 15, servers: int = 3000, *, own_owner: int = 1, own_listings: int = 3
) -> list[dict[str, Any]]:
    """`servers` listings as `marketplace` lists them; `own_listings` of them are the
    account's (owner `own_owner`), which the emulator then names in `my_servers`."""
    rng = random.Random(seed)
    owners = _owners(rng, servers, own_owner, own_listings)
    listings: list[dict[str, Any]] = []
    next_id = FIRST_ID
    for owner, (tier, count) in owners.items():
        for _ in range(count):
            listing = _listing(rng, next_id, owner, tier)
            next_id += rng.choice((1, 1, 1, 2))  # ids with gaps, as servers come and go
            listings.append(listing)
    rng.shuffle(listings)
    _spoil(rng, listings)
    return listings[:servers]


def _owners(
    rng: random.Random, servers: int, own_owner: int, own_listings: int
) -> dict[int, tuple[float, int]]:
    """Owner id -> (its price level, how many servers it lists): most own a few, some many."""
    owners: dict[int, tuple[float, int]] = {own_owner: (1.0, own_listings)}
    left = servers - own_listings
    # Two large hosts, one of them pricing far below everyone (it should count once).
    owners[7] = (0.25, min(left // 20, 150))
    owners[8] = (1.05, min(left // 30, 100))
    left -= owners[7][1] + owners[8][1]
    owner = 100
    while left > 0:
        count = min(left, max(1, int(rng.paretovariate(1.6))))
        owners[owner] = (rng.lognormvariate(0.0, 0.22), count)
        left -= count
        owner += rng.randint(1, 9)
    return owners


def _pick(rng: random.Random, table: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def _listing(rng: random.Random, ident: int, owner: int, tier: float) -> dict[str, Any]:
    model, per_gpu, _ = rng.choices(MODELS, weights=[m[2] for m in MODELS])[0]
    count = _pick(rng, COUNTS)
    if model.startswith(("A100", "H100")) and count in (3, 6):
        count = 8
    price = per_gpu * count * tier * rng.lognormvariate(0.0, 0.08)
    # Cheaper servers get rented more: the demand signal the rented share reads.
    rented = rng.random() < 1 / (1 + math.exp(6 * (tier - 1.0))) * 0.8
    listing: dict[str, Any] = {
        "id": ident,
        "owner": owner,
        "mrl": rng.choice((24, 72, 168, 720)),
        "price": {
            "on_demand": {"bitcoin": round(price, 8)},
            "spot": {"bitcoin": round(price * rng.uniform(0.4, 0.7), 8)},
        },
        "rented": rented,
        "specs": {
            "mb": "ROMED8-2T",
            "cpu": rng.choice(CPUS),
            "cpus": rng.choice(("16/32", "32/64", "64/128")),
            "ram": round(rng.uniform(30, 512), 2),
            "disk": f"NVMe {rng.choice((512, 1024, 2048))}GB",
            "disk_speed": rng.randint(800, 7000),
            "gpu": f"{count}x {_spelt(rng, model)}",
            "gpuram": 24,
            "net": {
                "up": round(rng.uniform(20, 1000), 2),
                "down": round(rng.uniform(50, 1000), 2),
                "cc": rng.choice(COUNTRIES),
            },
        },
        "reliability": round(rng.uniform(0.8, 1.0), 4),
        "rating": {"avg": round(rng.uniform(3, 5), 2), "cnt": rng.randint(0, 300)},
        "cuda_version": "12.4",
    }
    if rng.random() < 0.05:
        names = [f"NVIDIA {model}"] * count
        listing["gpu_array"] = [names] if rng.random() < 0.3 else names
    return listing


def _spelt(rng: random.Random, model: str) -> str:
    """The model as different hosts' machines report it."""
    roll = rng.random()
    if roll < 0.75:
        return f"NVIDIA {model}"
    if roll < 0.92:
        return model
    if roll < 0.96:
        return f"nvidia  {model.upper()}"
    return f"NVIDIA {model.replace(' ', '  ')} "


def _spoil(rng: random.Random, listings: list[dict[str, Any]]) -> None:
    """The junk a public market holds, in a few percent of the listings."""
    price_junk: tuple[Any, ...] = (None, 0, -0.0001, "0.0001", 5000.0, True, "abc")
    for i, listing in enumerate(listings):
        roll = rng.random()
        if roll < 0.015:
            listing["price"]["on_demand"].pop("bitcoin")  # priced in another coin only
            listing["price"]["on_demand"]["CLORE-Blockchain"] = 400.0
        elif roll < 0.03:
            listing["price"]["on_demand"]["bitcoin"] = rng.choice(price_junk)
        elif roll < 0.035:
            listing["price"] = None
        elif roll < 0.04:
            field, junk = rng.choice(
                (("owner", "abc"), ("id", "7"), ("rented", "yes"), ("owner", None))
            )
            listing[field] = junk
        elif roll < 0.042:
            listing["specs"]["gpu"] = 4090
        elif roll < 0.07:
            listing["online"] = False
        elif roll < 0.073 and i > 0:
            listings[i] = dict(listings[i - 1])  # the same machine listed twice
        elif roll < 0.2:
            listing["online"] = True


def spot_offers(seed: int, on_demand: float, *, first_offer_id: int = 500) -> list[dict[str, Any]]:
    """Offers on one server priced `on_demand`: bids around half of it, the highest two
    active (renting it), and one nobody can read (a bid that is a string)."""
    rng = random.Random(seed)
    bids = sorted(
        (round(on_demand * rng.uniform(0.3, 0.65), 8) for _ in range(rng.randint(3, 7))),
        reverse=True,
    )
    offers: list[dict[str, Any]] = [
        {"offer_id": first_offer_id + i, "bid": bid, "active": i < 2, "my": False}
        for i, bid in enumerate(bids)
    ]
    offers.append({"offer_id": first_offer_id + 50, "bid": "0.0001", "active": False, "my": False})
    return offers

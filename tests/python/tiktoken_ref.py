"""Python tiktoken, built offline: the reference the exact counts must match.

tiktoken downloads its rank files at run time, which this network forbids. The same files
ship inside the ``bpe-openai`` crate that ravelin builds with; this module feeds them to
tiktoken's own encoding definitions (``tiktoken_ext.openai_public``: the published split
pattern and special tokens), so nothing but the file location differs from ``get_encoding``.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import pathlib
import subprocess

import tiktoken
import tiktoken_ext.openai_public as openai_public

ROOT = pathlib.Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def _data_dir() -> pathlib.Path:
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--offline"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    for package in json.loads(meta.stdout)["packages"]:
        if package["name"] == "bpe-openai":
            return pathlib.Path(package["manifest_path"]).parent / "data"
    raise RuntimeError("bpe-openai is not among the crate's dependencies")


def _ranks(name: str) -> dict[bytes, int]:
    with gzip.open(_data_dir() / f"{name}.tiktoken.gz", "rt", encoding="ascii") as f:
        return {
            base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in f if line)
        }


@functools.cache
def encoding(name: str) -> tiktoken.Encoding:
    """``tiktoken.get_encoding(name)`` for ``o200k_base`` / ``cl100k_base``, without network."""
    loader = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = lambda *_a, **_k: _ranks(name)
    try:
        spec = getattr(openai_public, name)()
    finally:
        openai_public.load_tiktoken_bpe = loader
    return tiktoken.Encoding(**spec)

"""Checkpoints of pytree state as msgpack (flax serialization): no pickles, atomic writes.

A checkpoint holds ``{"meta": JSON-able dict, "state": state dict of the pytree}``. Loading needs a
template pytree of the same structure, so nothing in the file can run code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from flax import serialization

Tree = TypeVar("Tree")


def save_checkpoint(path: str | Path, state: Any, meta: dict[str, Any]) -> Path:
    """Write ``state`` (any pytree of arrays) and ``meta`` to ``path`` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    state_dict = serialization.to_state_dict(_to_numpy(state))
    payload = serialization.msgpack_serialize(
        {"meta": json.dumps(meta), "state": state_dict}, in_place=True
    )
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, target)
    return target


def load_checkpoint(path: str | Path, template: Tree) -> tuple[Tree, dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint` into the structure of ``template``."""
    raw = serialization.msgpack_restore(Path(path).read_bytes())
    state = serialization.from_state_dict(template, raw["state"])
    return state, json.loads(raw["meta"])


def read_checkpoint_meta(path: str | Path) -> dict[str, Any]:
    """Only the metadata of a checkpoint (to build the template before loading the state)."""
    raw = serialization.msgpack_restore(Path(path).read_bytes())
    return json.loads(raw["meta"])


def _to_numpy(tree: Any) -> Any:
    import jax

    return jax.tree_util.tree_map(np.asarray, tree)

"""A genome as text: the canonical payload its hash is taken of, its JSON, and the names evolution gives it.

Written by hand, with layouts cached per seed, because evolution hashes every offspring (see `hash_payload`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .gene_specs import REGIME_GENE, RULE_GENE, GeneValue
from .gene_table import _SPACES, SeedType


def hash_payload(seed_type: SeedType, values: Mapping[str, GeneValue]) -> str:
    """The canonical text a genome's hash is taken of: `json.dumps({"seed_type": ..., "genes": {...}},
    sort_keys=True, separators=(",", ":"), allow_nan=False)` of the cast gene values, regime gene left out
    when off (the name a genome had before the gene existed).

    Written out by hand because evolution hashes every offspring, and the json encoder cost a quarter of
    breeding; gene names are plain identifiers and numbers print as json prints them (`repr`), so the text is
    the same (pinned by a test). Anything else (a non-finite value, which json refuses; genes other than the
    seed's) takes the json path."""
    space = _SPACES[seed_type]
    if values.keys() == space.keys():
        typed = _typed_payload(seed_type, values)
        if typed is not None:
            return typed
        parts = []
        for name, is_int in _hash_layout(seed_type):
            number = float(values[name])
            value = int(round(number)) if is_int and math.isfinite(number) else number + 0.0
            if name == REGIME_GENE and value == 0:
                continue
            part = _json_member(name, value)
            if part is None:
                break
            parts.append(part)
        else:
            return f'{{"genes":{{{",".join(parts)}}},"seed_type":{json.dumps(seed_type.value)}}}'
    cast = {name: space[name].cast(value) for name, value in values.items() if name != RULE_GENE}
    if cast[REGIME_GENE] == 0:
        del cast[REGIME_GENE]
    payload: dict[str, Any] = {"seed_type": seed_type.value, "genes": cast}
    if RULE_GENE in values:  # a rule tree: its structure is part of what it is
        payload[RULE_GENE] = json.loads(values[RULE_GENE])
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


@functools.cache
def _hash_layout(seed_type: SeedType) -> tuple[tuple[str, bool], ...]:
    return tuple((name, _SPACES[seed_type][name].kind == "int") for name in sorted(_SPACES[seed_type]))


@dataclass(frozen=True)
class _PayloadTemplate:
    """`hash_payload`'s text for one seed type as a %-template: gene names in sorted order, with and without the
    regime gene, and which values must be ints and which floats for it to apply."""

    read: Any  # values -> the genes' values in sorted name order (an itemgetter)
    kinds: tuple[type, ...]
    floats: tuple[int, ...]
    regime: int
    text: str
    text_without_regime: str


@functools.cache
def _payload_template(seed_type: SeedType) -> _PayloadTemplate:
    layout = _hash_layout(seed_type)
    names = [name for name, _ in layout]
    tail = f'}},"seed_type":{json.dumps(seed_type.value)}}}'
    members = [f'"{name}":%r' for name in names]
    regime = names.index(REGIME_GENE)
    return _PayloadTemplate(
        read=operator.itemgetter(*names),
        kinds=tuple(int if is_int else float for _, is_int in layout),
        floats=tuple(k for k, (_, is_int) in enumerate(layout) if not is_int),
        regime=regime,
        text='{"genes":{' + ",".join(members) + tail,
        text_without_regime='{"genes":{' + ",".join(members[:regime] + members[regime + 1 :]) + tail,
    )


def _typed_payload(seed_type: SeedType, values: Mapping[str, GeneValue]) -> str | None:
    """`hash_payload` of complete values that are already what casting gives (ints as ints, finite floats as
    floats, as `repair_values` returns them) in one formatting step, else None. Evolution hashes every offspring,
    and the member-by-member text was a twentieth of a run."""
    t = _payload_template(seed_type)
    read = t.read(values)
    if tuple(map(type, read)) != t.kinds:
        return None
    ordered = list(read)
    for k in t.floats:
        ordered[k] += 0.0  # as casting does: -0.0 prints as 0.0
    if not all(map(math.isfinite, ordered)):
        return None
    if ordered[t.regime] == 0:
        del ordered[t.regime]
        return t.text_without_regime % tuple(ordered)
    return t.text % tuple(ordered)


def genes_json(values: Mapping[str, GeneValue]) -> str:
    """`json.dumps(values, separators=(",", ":"))` of flat gene values, in their order: the text evolution's
    records keep of each genome. Written out by hand as `hash_payload` is, for the same reason (the encoder
    formats each float through a Python callback: two thirds of a record's cost): values of
    the kinds the encoder writes as `repr` does (ints, finite floats) under plain names are formatted in one step,
    through a template kept per tuple of names; anything else takes the json path."""
    numbers = tuple(values.values())
    template = _json_template(tuple(values))
    if template is not None and all(type(v) is int or (type(v) is float and math.isfinite(v)) for v in numbers):
        return template % numbers
    return json.dumps(values, separators=(",", ":"))


def genes_hash_and_json(seed_type: SeedType, values: Mapping[str, GeneValue]) -> tuple[str, str]:
    """(`genes_hash`, `genes_json`) of gene values, each number formatted once: evolution takes both of every genome
    it evaluates, and formatting the floats (`repr`) was most of either. Values as `repair_values` returns them
    (every gene of the seed in its order, ints as ints, finite floats, no -0.0) take that path; any others get the
    two functions' own texts."""
    layout = _text_layout(seed_type)
    numbers = tuple(values.values())
    if tuple(values) == layout.names and tuple(map(type, numbers)) == layout.kinds and all(map(math.isfinite, numbers)):
        texts = tuple(map(repr, numbers))
        if "-0.0" not in texts:  # the hash's cast makes it 0.0, the records keep it: texts differ
            ordered = [texts[k] for k in layout.sorted_positions]
            if numbers[layout.regime] == 0:
                payload = layout.payload_without_regime % tuple(
                    ordered[: layout.regime_sorted] + ordered[layout.regime_sorted + 1 :]
                )
            else:
                payload = layout.payload % tuple(ordered)
            return hashlib.sha256(payload.encode()).hexdigest(), layout.json % texts
    return genes_hash(seed_type, values), genes_json(values)


@dataclass(frozen=True)
class _TextLayout:
    """`genes_hash_and_json`'s %s-templates for one seed type: the genes in the space's order and their kinds, the
    records' json over them, and the hash payload (with and without the regime gene) over them in sorted order."""

    names: tuple[str, ...]
    kinds: tuple[type, ...]
    sorted_positions: tuple[int, ...]  # the space position of each gene in sorted name order
    regime: int  # the regime gene's position in the space
    regime_sorted: int  # and in sorted order
    json: str
    payload: str
    payload_without_regime: str


@functools.cache
def _text_layout(seed_type: SeedType) -> _TextLayout:
    space = _SPACES[seed_type]
    names = tuple(space)
    template = _payload_template(seed_type)
    sorted_names = [name for name, _ in _hash_layout(seed_type)]
    return _TextLayout(
        names=names,
        kinds=tuple(int if space[name].kind == "int" else float for name in names),
        sorted_positions=tuple(names.index(name) for name in sorted_names),
        regime=names.index(REGIME_GENE),
        regime_sorted=template.regime,
        json="{" + ",".join(f'"{name}":%s' for name in names) + "}",
        payload=template.text.replace("%r", "%s"),
        payload_without_regime=template.text_without_regime.replace("%r", "%s"),
    )


@functools.lru_cache(maxsize=256)
def _json_template(names: tuple[str, ...]) -> str | None:
    """`genes_json`'s %-template for these names (in this order), or None where the encoder would escape a name."""
    if not all(name.isascii() and name.isidentifier() for name in names):
        return None
    return "{" + ",".join(f'"{name}":%r' for name in names) + "}"


def _json_member(name: str, value: GeneValue) -> str | None:
    """`"name":value` exactly as the json encoder writes it with compact separators, or None where its text could
    differ: a name that is not a plain ASCII identifier (it would be escaped), a value that is not a finite int or
    float (bools, numpy scalars and non-finite numbers print otherwise or are refused). Ints and floats print as
    the encoder prints them, through `repr`."""
    kind = type(value)
    if (kind is int or (kind is float and math.isfinite(value))) and name.isascii() and name.isidentifier():
        return f'"{name}":{value!r}'
    return None


def genes_hash(seed_type: SeedType, values: Mapping[str, GeneValue]) -> str:
    """`SeedGenes.genes_hash` of a genome's flat gene values, without building the genome."""
    return hashlib.sha256(hash_payload(seed_type, values).encode()).hexdigest()


def evolved_name(seed_type: SeedType, generation: int, digest: str) -> str:
    """`{seed_type}_{generation}_{hash[:8]}`: the name evolution gives the genome whose `genes_hash` is `digest`."""
    return f"{seed_type.value}_{generation}_{digest[:8]}"

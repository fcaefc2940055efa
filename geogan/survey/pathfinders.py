"""The pathfinder catalogue: deposit type → indicator elements, and what a target means on a grid.

What lives here: reading the catalogue (``geogan/data/pathfinders.toml``, extendable with a
user's file of the same layout), :class:`DepositType`, and :func:`resolve_target`, which turns
what a user looks for (``target="Au"`` and/or ``deposit_type="orogenic-au"``) and the elements
a grid holds into a :class:`TargetSpec`: the commodity element, the type's pathfinders present
in the grid (the suite a target-aware model is trained on), their directions, and the grid's
other elements. What does not: training (:mod:`geogan.training.stage`) or scoring with it
(:mod:`geogan.training.targeting`).

Grid elements match catalogue symbols by element or by oxide (``K`` matches ``K2O``, ``Fe``
matches ``Fe2O3``), so a catalogue written in elements serves grids of oxides.

>>> spec = resolve_target("Au", None, ["Au", "As", "Ag", "Cu", "Ni", "Co"])
>>> spec.deposit_type, spec.suite, spec.others
('orogenic-au', ['Au', 'As', 'Ag', 'Cu'], ['Ni', 'Co'])
>>> resolve_target(None, "w-sn-granite", ["W", "Sn", "K2O", "Cr"]).target
'W'
>>> resolve_target("Kr", None, ["Au"])
Traceback (most recent call last):
geogan.errors.ConfigError: target 'Kr' is not an element of the grid (Au)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from geogan.survey.elements import ELEMENT_SYMBOLS, element_of
from geogan.errors import ConfigError

__all__ = ["DepositType", "TargetSpec", "HOST_ROCKS", "catalogue", "catalogue_digest", "resolve_target", "element_of",
           "describe"]

DIRECTIONS = {"+": 1, "-": -1}
#: Host rocks a deposit type's mineral system belongs to (``host`` in the catalogue) and the
#: matrix elements that rock raises. A type with a host gets no matrix correction by default,
#: and when one is forced these elements are left out of it (:func:`geogan.training.targeting.plan_target`):
#: for a granite-related or a magmatic sulphide deposit the intrusion is part of the deposit
#: model, not a background to remove.
HOST_ROCKS = {
    "felsic": ("Si", "K", "Rb", "Th", "Zr", "Hf", "Y", "La", "Ce"),
    "mafic": ("Mg", "Fe", "Ti", "Ca", "Cr", "Ni", "Co", "V", "Sc"),
}


@dataclass(frozen=True)
class DepositType:
    """One deposit type of the catalogue (see ``geogan/data/pathfinders.toml``)."""

    key: str
    name: str
    commodities: tuple[str, ...]
    pathfinders: dict[str, int]          # element → +1 (enrichment) / -1 (depletion), strongest first
    alteration: dict[str, int] = field(default_factory=dict)
    caveat: str = ""
    references: tuple[str, ...] = ()
    host: tuple[str, ...] = ()             # keys of HOST_ROCKS: rocks that are part of the deposit model


@dataclass(frozen=True)
class Catalogue:
    """Deposit types by key, and each commodity's default type."""

    types: dict[str, DepositType]
    commodities: dict[str, str]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class TargetSpec:
    """What a target-aware model looks for, on one grid's elements.

    ``target`` is the commodity element (a grid element name, e.g. ``"Au"`` or ``"Fe2O3"``);
    ``suite`` the deposit type's pathfinders present in the grid, target first;
    ``directions`` +1/-1 per suite element; ``others`` the grid's remaining elements.
    """

    target: str
    deposit_type: str | None
    suite: list[str]
    directions: dict[str, int]
    others: list[str]
    name: str = ""
    references: tuple[str, ...] = ()
    caveat: str = ""

    def to_dict(self) -> dict:
        return {"target": self.target, "deposit_type": self.deposit_type, "suite": list(self.suite),
                "directions": dict(self.directions), "others": list(self.others), "name": self.name,
                "references": list(self.references), "caveat": self.caveat}

    @classmethod
    def from_dict(cls, d: dict) -> TargetSpec:
        return cls(target=str(d["target"]), deposit_type=d.get("deposit_type"), suite=list(d["suite"]),
                   directions={str(k): int(v) for k, v in dict(d.get("directions") or {}).items()},
                   others=list(d.get("others") or []), name=str(d.get("name") or ""),
                   references=tuple(d.get("references") or ()), caveat=str(d.get("caveat") or ""))


def _directions(table, *, where: str) -> dict[str, int]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of element = \"+\" or \"-\"")
    out = {}
    for el, sign in table.items():
        if el not in ELEMENT_SYMBOLS:
            raise ConfigError(f"{where}: {el!r} is not an element symbol")
        if sign not in DIRECTIONS:
            raise ConfigError(f"{where}: {el} = {sign!r}; the direction is \"+\" (enrichment) or \"-\" (depletion)")
        out[el] = DIRECTIONS[sign]
    return out


def _parse(doc: dict, source: str) -> tuple[dict[str, DepositType], dict[str, str]]:
    types = {}
    for key, t in dict(doc.get("types") or {}).items():
        where = f"{source}: [types.{key}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{where} must be a table")
        unknown = set(t) - {"name", "commodities", "pathfinders", "alteration", "caveat", "references", "host"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        pathfinders = _directions(t.get("pathfinders"), where=f"{where} pathfinders")
        if not pathfinders:
            raise ConfigError(f"{where} needs at least one pathfinder")
        commodities = tuple(t.get("commodities") or ())
        bad = [c for c in commodities if c not in ELEMENT_SYMBOLS]
        if not commodities or bad:
            raise ConfigError(f"{where}: commodities must be element symbols, got {list(commodities)}")
        host = t.get("host") or []
        if not isinstance(host, list) or any(h not in HOST_ROCKS for h in host):
            raise ConfigError(f"{where}: host = {host!r}; a list of {', '.join(repr(h) for h in HOST_ROCKS)}")
        types[key] = DepositType(key=key, name=str(t.get("name") or key), commodities=commodities,
                                 pathfinders=pathfinders,
                                 alteration=_directions(t.get("alteration") or {}, where=f"{where} alteration"),
                                 caveat=str(t.get("caveat") or ""), references=tuple(t.get("references") or ()),
                                 host=tuple(host))
    commodities = {}
    for el, key in dict(doc.get("commodities") or {}).items():
        if el not in ELEMENT_SYMBOLS or not isinstance(key, str):
            raise ConfigError(f"{source}: [commodities] {el} = {key!r}: an element symbol = a deposit type key")
        commodities[el] = key
    return types, commodities


@lru_cache(maxsize=8)
def _read(path: str | None) -> tuple[dict, str]:
    if path is None:
        text = resources.files("geogan").joinpath("data/pathfinders.toml").read_text(encoding="utf-8")
        return tomllib.loads(text), "geogan/data/pathfinders.toml"
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8")), str(p)
    except FileNotFoundError:
        raise ConfigError(f"{p}: catalogue file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p}: not a readable TOML catalogue ({exc})") from None


def catalogue_digest(extra: str | Path | None = None) -> str:
    """A digest of the catalogue ``extra`` resolves to (the built-in file and ``extra``'s bytes):
    what a pipeline's stamp records, so a changed catalogue retrains the target-aware models."""
    import hashlib

    h = hashlib.sha256(resources.files("geogan").joinpath("data/pathfinders.toml").read_bytes())
    if extra is not None:
        try:
            h.update(Path(extra).read_bytes())
        except OSError as exc:
            raise ConfigError(f"{extra}: catalogue file not readable ({exc.strerror or exc})") from None
    return h.hexdigest()[:20]


def catalogue(extra: str | Path | None = None) -> Catalogue:
    """The built-in catalogue, extended (and overridden by type key) with ``extra``'s types and
    commodity defaults."""
    doc, source = _read(None)
    types, commodities = _parse(doc, source)
    sources = [source]
    if extra is not None:
        doc2, source2 = _read(str(Path(extra).resolve()))
        t2, c2 = _parse(doc2, source2)
        types.update(t2)
        commodities.update(c2)
        sources.append(source2)
    missing = {el: key for el, key in commodities.items() if key not in types}
    if missing:
        el, key = next(iter(missing.items()))
        raise ConfigError(f"[commodities] {el} = {key!r} names no deposit type; types: {', '.join(sorted(types))}")
    return Catalogue(types=types, commodities=commodities, sources=tuple(sources))


def _grid_element(symbol: str, grid_elements: list[str]) -> str | None:
    """The grid element standing for a catalogue symbol: the element itself, else its oxide."""
    if symbol in grid_elements:
        return symbol
    return next((g for g in grid_elements if element_of(g) == symbol), None)


def resolve_target(target: str | None, deposit_type: str | None, grid_elements, *,
                   catalogue_path: str | Path | None = None, alteration: bool = False) -> TargetSpec:
    """What ``target`` (a commodity element) and/or ``deposit_type`` mean on a grid's elements.

    With only ``target``, the deposit type is the catalogue's default for that commodity
    (``[commodities]``); a target with no default type gives a suite of the target alone.
    With only ``deposit_type``, the target is the type's first commodity present in the grid.
    ``alteration`` adds the type's alteration elements to the suite.

    Raises :class:`~geogan.errors.ConfigError` for an unknown type, a target not in the grid,
    or a type none of whose commodities the grid holds.
    """
    grid_elements = [str(e) for e in grid_elements]
    cat = catalogue(catalogue_path)
    dtype = None
    if deposit_type is not None:
        if deposit_type not in cat.types:
            raise ConfigError(f"unknown deposit type {deposit_type!r}; the catalogue has {', '.join(sorted(cat.types))} "
                              f"(extend it with --catalogue FILE)")
        dtype = cat.types[deposit_type]
    if target is not None:
        target_el = _grid_element(str(target), grid_elements) if str(target) in ELEMENT_SYMBOLS else (
            str(target) if str(target) in grid_elements else None)
        if target_el is None:
            raise ConfigError(f"target {target!r} is not an element of the grid ({', '.join(grid_elements)})")
        if dtype is None and element_of(target_el) in cat.commodities:
            dtype = cat.types[cat.commodities[element_of(target_el)]]
    else:
        if dtype is None:
            raise ConfigError("give a target element (--target Au) or a deposit type (--deposit-type orogenic-au)")
        target_el = next((g for c in dtype.commodities if (g := _grid_element(c, grid_elements))), None)
        if target_el is None:
            raise ConfigError(f"the grid holds none of {dtype.key}'s commodities ({', '.join(dtype.commodities)}): "
                              f"give --target")
    directions = {target_el: 1}
    if dtype is not None:
        wanted = dict(dtype.pathfinders)
        if alteration:
            wanted.update({k: v for k, v in dtype.alteration.items() if k not in wanted})
        for symbol, sign in wanted.items():
            g = _grid_element(symbol, grid_elements)
            if g is not None and g not in directions:
                directions[g] = sign
    suite = list(directions)
    others = [g for g in grid_elements if g not in directions]
    return TargetSpec(target=target_el, deposit_type=dtype.key if dtype else None, suite=suite,
                      directions=directions, others=others, name=dtype.name if dtype else "",
                      references=dtype.references if dtype else (), caveat=dtype.caveat if dtype else "")


def describe(deposit_type: str | None = None, *, catalogue_path: str | Path | None = None) -> str:
    """The catalogue as text: one line per deposit type, or one type in full (suite with
    directions, alteration, commodities, caveat, references).

    >>> print(describe("lct-pegmatite").splitlines()[0])
    lct-pegmatite: Lithium-caesium-tantalum (LCT) pegmatite
    """
    cat = catalogue(catalogue_path)
    signs = {1: "+", -1: "-"}
    if deposit_type is None:
        width = max(len(k) for k in cat.types)
        lines = [f"{k:<{width}}  {t.name}; pathfinders {' '.join(t.pathfinders)}" for k, t in cat.types.items()]
        lines.append("commodity defaults (--target): " + ", ".join(f"{el} → {k}" for el, k in cat.commodities.items()))
        lines.append(f"from {', '.join(cat.sources)}")
        return "\n".join(lines)
    if deposit_type not in cat.types:
        raise ConfigError(f"unknown deposit type {deposit_type!r}; the catalogue has {', '.join(sorted(cat.types))}")
    t = cat.types[deposit_type]
    lines = [f"{t.key}: {t.name}", f"  commodities: {', '.join(t.commodities)}",
             "  pathfinders: " + " ".join(f"{el}{signs[v]}" for el, v in t.pathfinders.items())]
    if t.alteration:
        lines.append("  alteration (with --alteration): " + " ".join(f"{el}{signs[v]}" for el, v in t.alteration.items()))
    if t.host:
        lines.append(f"  host (part of the deposit model: no matrix correction by default): {', '.join(t.host)}")
    if t.caveat:
        lines.append(f"  caveat: {t.caveat}")
    lines += [f"  reference: {r}" for r in t.references]
    return "\n".join(lines)

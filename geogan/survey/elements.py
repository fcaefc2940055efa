"""Element columns by name: which column of a table holds which element, in which unit.

What lives here: the column conventions (:data:`ELEMENT_SYMBOLS`, :data:`UNITS`,
:func:`parse_column_name`: ``Au_ppb``, ``Cu_ppm_511``, ``Fe2O3_pct``; :func:`normalise_symbol`)
and :class:`ElementColumns`, which picks a table's element columns (by symbol or exact name,
oxides standing in for a missing metal), chooses one column and unit per element (refusing
mixed units) and pairs it with its qualifier column (GTK's ``Zr_511P_T`` flags
``Zr_ppm_511``). What must not: reading or censoring cell values (:mod:`geogan.survey.censoring`,
which imports this module, never the reverse), opening files and coordinates
(:mod:`geogan.survey.tables`, :mod:`geogan.survey.coordinates`), the survey record (:mod:`geogan.survey.read`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from geogan.errors import ConfigError, SurveyError

if TYPE_CHECKING:
    from geogan.survey.tables import Table

__all__ = ["ELEMENT_SYMBOLS", "UNITS", "ElementColumns", "element_of", "normalise_symbol", "parse_column_name"]

# fmt: off
ELEMENT_SYMBOLS = frozenset("""
H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As
Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd
Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am
Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og
""".split())
# fmt: on

#: Accepted unit spellings (lower case) and the canonical unit each one means.
UNITS: dict[str, str] = {
    "ppm": "ppm", "mg/kg": "ppm", "g/t": "ppm", "ug/g": "ppm", "µg/g": "ppm",
    "ppb": "ppb", "ug/kg": "ppb", "µg/kg": "ppb", "mg/t": "ppb", "ng/g": "ppb",
    "ppt": "ppt",
    "pct": "pct", "%": "pct", "wt%": "pct", "wt_pct": "pct", "wtpct": "pct",
    "percent": "pct",
}  # fmt: skip

_UNIT_PATTERN = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
# species, a separator (or a bracket / % directly after it), the unit, then an optional
# method/lab suffix such as GTK's ``_511P`` (``Cu_ppm_511``)
_COLUMN_RE = re.compile(
    rf"(?P<species>[A-Za-z][A-Za-z0-9]*)"
    rf"(?:[ _.\-]+|\s*(?=[(\[%]))"
    rf"[(\[]?(?P<unit>{_UNIT_PATTERN})[)\]]?"
    rf"(?P<suffix>[ _.\-].*)?",
    re.IGNORECASE,
)
_BARE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")

_OXIDE_RE = re.compile(r"(?P<metal>[A-Z][a-z]?)\d*O\d*T?")


def _oxide_metal(species: str) -> str | None:
    """``"Fe2O3"`` -> ``"Fe"``, ``"K2O"`` -> ``"K"``, ``"SiO2"`` -> ``"Si"``; None if not an oxide."""
    m = _OXIDE_RE.fullmatch(species)
    if m and m["metal"] in ELEMENT_SYMBOLS and m["metal"] != "O":
        return m["metal"]
    return None


def element_of(name: str) -> str:
    """The chemical element a grid element names: ``"Fe2O3"`` → ``"Fe"``, ``"Au"`` → ``"Au"``.

    >>> element_of("K2O"), element_of("W"), element_of("LOI")
    ('K', 'W', 'LOI')
    """
    if name in ELEMENT_SYMBOLS:
        return name
    return _oxide_metal(name) or name


def parse_column_name(name: str) -> tuple[str, str | None, str] | None:
    """Split a column name into species, canonical unit and suffix.

    Parameters
    ----------
    name
        A column name such as ``"Au_ppb"``, ``"Cu_ppm_511"``, ``"Fe2O3 (wt%)"``.

    Returns
    -------
    tuple or None
        ``(species, unit, suffix)``: ``unit`` is ``None`` for a bare name (``"Au"``);
        all-caps element symbols are normalised (``"AU_PPB"`` -> ``"Au"``). ``None``
        when the name is not shaped like an element or oxide column.

    Examples
    --------
    >>> parse_column_name("Cu_ppm_511")
    ('Cu', 'ppm', '_511')
    >>> parse_column_name("WO3_ppm")
    ('WO3', 'ppm', '')
    >>> parse_column_name("Zr_511P_T") is None
    True
    """
    name = name.strip()
    match = _COLUMN_RE.fullmatch(name)
    if match:
        unit = UNITS[match["unit"].lower()]
        return normalise_symbol(match["species"]), unit, match["suffix"] or ""
    if _BARE_RE.fullmatch(name):
        return normalise_symbol(name), None, ""
    return None


def normalise_symbol(name: str) -> str:
    """An element symbol written in one case, as the symbol (``"AU"``, ``"au"`` -> ``"Au"``);
    any other name unchanged.

    >>> normalise_symbol("AU"), normalise_symbol("Fe2O3"), normalise_symbol("Tl")
    ('Au', 'Fe2O3', 'Tl')
    """
    if name in ELEMENT_SYMBOLS:
        return name
    if len(name) <= 2 and name.isalpha() and name.capitalize() in ELEMENT_SYMBOLS and (
        name.isupper() or name.islower()
    ):
        return name.capitalize()
    return name


# --------------------------------------------------------------------------------------
# element columns of a table


class ElementColumns:
    """Finds a table's element columns, their units and their qualifier columns.

    Parameters
    ----------
    table
        The opened survey table.
    elements
        Requested symbols or exact column names; ``None`` for every element column.
    units
        Symbol -> canonical unit, for columns whose names carry none.
    warnings
        Notes about what was done (several qualifier columns, ...) are appended here.
    """

    def __init__(
        self,
        table: Table,
        *,
        elements: list[str] | None,
        units: dict[str, str],
        warnings: list[str],
    ) -> None:
        self.table = table
        self.elements = elements
        self.units = units
        self.warnings = warnings
        self.names = table.names
        self.path = table.path

    def element_candidates(self, *, exclude) -> dict[str, list[str]]:
        """Symbol -> candidate column names (by name only), leaving out ``exclude``."""
        parsed = {}
        for name in self.names:
            if not name or name in exclude:
                continue
            p = parse_column_name(name)
            if p is not None:
                parsed[name] = p
        result: dict[str, list[str]] = {}
        if self.elements is None:
            oxides: dict[str, list[str]] = {}
            for name, (species, unit, _) in parsed.items():
                if unit is None and species not in self.units:
                    continue
                if species in ELEMENT_SYMBOLS:
                    result.setdefault(species, []).append(name)
                elif _oxide_metal(species) is not None:
                    oxides.setdefault(species, []).append(name)
            # an oxide column (Fe2O3_pct) stands in for its metal only when the survey has
            # no column for the metal itself: GSWA exports carry both Al_ppm and Al2O3_pct
            # for one measurement, and taking both would count it twice
            for species, names in oxides.items():
                if _oxide_metal(species) not in result:
                    result[species] = names
            order = {n: i for i, n in enumerate(self.names)}
            result = dict(sorted(result.items(), key=lambda kv: order[kv[1][0]]))
            if not result:
                raise SurveyError(
                    "no element columns found (names like Au_ppb, Cu_ppm, Fe2O3_pct); name "
                    "elements explicitly, with units= for columns without a unit. Columns "
                    f"are: {self.table.listed_names()}",
                    path=self.path,
                )
            return result
        for requested in self.elements:
            if requested in self.names and requested not in exclude and requested in parsed:
                species = parsed[requested][0]
                if parsed[requested][1] is not None or requested != species:
                    symbol = species
                    if symbol in result:
                        raise ConfigError(f"element {symbol!r} is asked for twice", column=requested)
                    result[symbol] = [requested]
                    continue
            symbol = normalise_symbol(requested)
            if symbol in result:
                raise ConfigError(f"element {symbol!r} is asked for twice", column=requested)
            matches = [
                n
                for n, (species, unit, _) in parsed.items()
                if (species == symbol or (symbol not in ELEMENT_SYMBOLS and species.lower() == symbol.lower()))
            ]
            if not matches:
                raise SurveyError(self._not_found_message(symbol, parsed), path=self.path, column=symbol)
            spellings = {parsed[n][0] for n in matches}
            if len(spellings) == 1:  # an oxide asked for as 'fe2o3' is reported as 'Fe2O3'
                symbol = spellings.pop()
            result[symbol] = matches
        return result

    def _not_found_message(self, symbol, parsed) -> str:
        oxides = [
            n for n, (species, _, _) in parsed.items()
            if species != symbol and species.startswith(symbol) and re.fullmatch(
                rf"{re.escape(symbol)}\d*O\d*", species
            )
        ]
        known = sorted({s for s, _, _ in parsed.values() if s in ELEMENT_SYMBOLS})
        hint = (
            f" (oxide column(s) {', '.join(oxides)} hold a different quantity; ask for the "
            "oxide by its formula if that is what you want)"
            if oxides
            else ""
        )
        return (
            f"element {symbol!r} not found: no column like {symbol}_ppm / {symbol}_ppb / "
            f"{symbol}_pct{hint}; elements present: {', '.join(known) or 'none'}"
        )

    def qualifier_candidates(self, element_candidates, *, exclude) -> list[str]:
        """Columns named like a qualifier of a candidate element (``Zr_511P_T``); read to decide."""
        result = []
        element_columns = {c for cols in element_candidates.values() for c in cols}
        for symbol in element_candidates:
            for name in self.names:
                if name in exclude or name in result:
                    continue
                if re.match(rf"{re.escape(symbol)}[ _.\-]", name) and (
                    name not in element_columns or len(element_candidates[symbol]) > 1
                ):
                    result.append(name)
        return result

    def choose_element_columns(self, candidates, arrays) -> dict[str, tuple[str, str]]:
        """Symbol -> (column, canonical unit): one column per element, refusing mixed units."""
        chosen = {}
        for symbol, names in candidates.items():
            # a column named like an element but holding only '<'/'!' flags is a qualifier
            names = [n for n in names if not _is_qualifier_content(arrays[n])] or names
            units = {}
            for name in names:
                unit = parse_column_name(name)[1]
                units[name] = unit
            wanted_unit = self.units.get(symbol)
            if wanted_unit is not None:
                conflicting = [n for n in names if units[n] not in (None, wanted_unit)]
                names = [n for n in names if units[n] in (None, wanted_unit)]
                if not names:
                    raise SurveyError(
                        f"units says {symbol} is in {wanted_unit} but its column(s) "
                        f"{', '.join(conflicting)} carry another unit; fix units or the column name",
                        path=self.path,
                        column=conflicting[0],
                    )
            if len(names) > 1:
                distinct = {units[n] for n in names}
                if len(distinct) > 1:
                    raise SurveyError(
                        f"mixed units for {symbol}: columns "
                        + ", ".join(f"{n!r} ({units[n] or 'no unit'})" for n in names)
                        + f"; choose one with units={{'{symbol}': '<unit>'}} (--units) or by "
                        "naming the column in elements — values are not converted silently",
                        path=self.path,
                        column=names[0],
                    )
                raise SurveyError(
                    f"several columns for {symbol}: {', '.join(repr(n) for n in names)}; "
                    "name the one to use in elements (e.g. elements=['" + names[0] + "'])",
                    path=self.path,
                    column=names[0],
                )
            name = names[0]
            unit = units[name] or wanted_unit
            if unit is None:
                raise SurveyError(
                    f"column carries no unit for {symbol}; give it with units={{'{symbol}': 'ppm'}} "
                    "(--units) or rename the column (e.g. "
                    f"{symbol}_ppm)",
                    path=self.path,
                    column=name,
                )
            chosen[symbol] = (name, unit)
        return chosen

    def pair_qualifiers(self, chosen, candidates, arrays) -> dict[str, str]:
        """Symbol -> its qualifier column (short ``<``/``>``/``!`` flags), where it has one."""
        used = {c for c, _ in chosen.values()}
        pairs = {}
        for symbol, (column, _) in chosen.items():
            options = [
                n
                for n in candidates
                if n not in used
                and re.match(rf"{re.escape(symbol)}[ _.\-]", n)
                and _is_qualifier_content(arrays[n])
            ]
            if not options:
                continue
            own = _name_tokens(column, symbol)
            options.sort(key=lambda n: -len(own & _name_tokens(n, symbol)))
            if len(options) > 1:
                self.warnings.append(
                    f"{symbol}: several qualifier columns ({', '.join(options)}); used {options[0]!r}"
                )
            pairs[symbol] = options[0]
        return pairs


# --------------------------------------------------------------------------------------
# small helpers


def _name_tokens(name: str, symbol: str) -> set[str]:
    tokens = set(re.split(r"[ _.\-()\[\]]+", name.lower())) - {"", symbol.lower()}
    return tokens - set(UNITS)


def _is_qualifier_content(array: pa.Array) -> bool:
    """A text column whose non-empty cells are short flags such as '<', '>' or '!'."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return False
    # cheap rejection first: a concentration column shows digits within a few cells
    head = array.drop_null().slice(0, 1000).to_pylist()
    if any(len(v.strip()) > 3 or re.search(r"\d", v) for v in head):
        return False
    distinct = pc.unique(pc.utf8_trim_whitespace(array)).to_pylist()
    flags = [d for d in distinct if d]
    if not flags:
        return False
    if any(len(d) > 3 or re.search(r"\d", d) for d in flags):
        return False
    return any(c in d for d in flags for c in "<>!")

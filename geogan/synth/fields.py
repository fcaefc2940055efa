"""The synthetic world on a lattice: random streams, Gaussian fields, domains and deposit halos.

What lives here: the independent random streams every draw comes from
(:func:`random_stream` and its ``STREAM_*`` keys), the coarse :class:`Lattice` the fields and
domains live on, stationary Gaussian random fields (:func:`gaussian_field`), lithological
domains (:func:`make_domains`, :func:`rasterise_domains`), and deposits with their halo
geometry and amplitudes (:func:`make_halos`, :func:`halo_amplitudes`). What does not: the
samples and their values (:mod:`geogan.synth.generator`), parameters
(:mod:`geogan.synth.elements`, :mod:`geogan.synth.presets`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage, special

from geogan.synth.elements import ELEMENT_INDEX, ElementSpec
from geogan.synth.deposits import DEPOSIT_MODELS, DEPOSIT_SIZES
from geogan.synth.presets import SynthPreset

# -- random streams
# Independent random streams: changing how much one component draws (more elements, more
# samples) never shifts another component's numbers. Each key below names one component; a
# stream is keyed further by element (ELEMENT_INDEX) or chunk where the component has them.
STREAM_DOMAINS = 1
STREAM_DEPOSITS = 2
STREAM_FACTOR_FIELD = 3
STREAM_ELEMENT_FIELD = 4
STREAM_HALO_AMPLITUDE = 5
STREAM_LOCATIONS = 6
STREAM_VALUES = 7
STREAM_LABS = 8
STREAM_SPIKES = 9


def random_stream(seed: int, *key: int) -> np.random.Generator:
    """The random generator of one component of the survey of ``seed``.

    ``key`` is a ``STREAM_*`` key, then the element (:data:`ELEMENT_INDEX`) or chunk number
    where the component has them: the same key always gives the same numbers.
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


_AMPLITUDE_LOG_SD = 0.35  # deposit-to-deposit scatter of each element's amplitude


# ----------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class Lattice:
    """Regular nodes from ``(x0, y0)`` every ``spacing_m``, ``shape`` = ``(ny, nx)``: where the
    random fields and domain weights are computed, then interpolated to the samples."""

    x0: float
    y0: float
    spacing_m: float
    shape: tuple[int, int]  # (ny, nx)

    @classmethod
    def over(cls, extent_m: tuple[float, float, float, float], spacing_m: float) -> Lattice:
        """The lattice of ``spacing_m`` covering ``extent_m`` (``xmin, ymin, xmax, ymax``)."""
        xmin, ymin, xmax, ymax = extent_m
        nx = math.ceil((xmax - xmin) / spacing_m) + 1
        ny = math.ceil((ymax - ymin) / spacing_m) + 1
        return cls(xmin, ymin, spacing_m, (ny, nx))

    def node_coords(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        """Node coordinates of a block of the lattice, as broadcastable ``(x, y)`` (row, column)."""
        ys = self.y0 + np.arange(rows.start, rows.stop) * self.spacing_m
        xs = self.x0 + np.arange(cols.start, cols.stop) * self.spacing_m
        return xs[None, :], ys[:, None]

    def sample(self, fields: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear interpolation of ``fields`` (``(ny, nx)`` or ``(k, ny, nx)``) at points."""
        coords = np.stack([(y - self.y0) / self.spacing_m, (x - self.x0) / self.spacing_m])
        stack = fields[None] if fields.ndim == 2 else fields
        out = np.stack([
            ndimage.map_coordinates(f, coords, order=1, mode="nearest", prefilter=False)
            for f in stack
        ])
        return out[0] if fields.ndim == 2 else out


def gaussian_field(rng: np.random.Generator, lattice: Lattice, corr_m: float) -> np.ndarray:
    """Unit-variance stationary Gaussian random field on ``lattice`` (float32).

    Filtered white noise with a Matérn-like spectrum (smooth but not Gaussian-smooth, like
    geology). The FFT is periodic, so the lattice is padded by three correlation lengths on
    one side: the cropped field's opposite edges are then uncorrelated.
    """
    ny, nx = lattice.shape
    pad = min(int(3 * corr_m / lattice.spacing_m) + 1, max(ny, nx))
    shape = (sp_fft.next_fast_len(ny + pad, real=True),
             sp_fft.next_fast_len(nx + pad, real=True))
    noise = rng.standard_normal(shape, dtype=np.float32)
    spectrum = sp_fft.rfft2(noise)
    fy = sp_fft.fftfreq(shape[0], d=lattice.spacing_m).astype(np.float32)[:, None]
    fx = sp_fft.rfftfreq(shape[1], d=lattice.spacing_m).astype(np.float32)[None, :]
    k2l2 = np.float32((2 * np.pi * corr_m) ** 2) * (fx * fx + fy * fy)
    spectrum *= np.float32(1.0) / (np.float32(1.0) + k2l2)  # sqrt of 2-D Matérn (nu = 1) density
    field = sp_fft.irfft2(spectrum, s=shape)[:ny, :nx]
    field -= field.mean(dtype=np.float64)
    field /= field.std(dtype=np.float64)
    return np.ascontiguousarray(field, dtype=np.float32)


def _blob_radius(domain: Mapping[str, Any], theta: np.ndarray) -> np.ndarray:
    radius = np.ones_like(theta)
    for order, amplitude, phase in domain["harmonics"]:
        radius += amplitude * np.cos(order * theta + phase)
    return domain["radius_m"] * radius


def make_domains(preset: SynthPreset, seed: int) -> list[dict[str, Any]]:
    """Granite, mafic and black-shale bodies: id, kind, centre, mean radius and outline
    harmonics each (the shales are drawn last, so a preset without them has the same
    granites and mafic bodies)."""
    rng = random_stream(seed, STREAM_DOMAINS)
    xmin, ymin, xmax, ymax = preset.extent_m
    domains = []
    for kind, count, (r_lo, r_hi), prefix in (
        ("granite", preset.n_granites, preset.granite_radius_m, "G"),
        ("mafic", preset.n_mafic, preset.mafic_radius_m, "M"),
        ("shale", preset.n_shale, preset.shale_radius_m, "S"),
    ):
        width = len(str(count))
        for i in range(count):
            # a few harmonics make irregular, plutons-like outlines; their amplitudes sum
            # to <= 0.3 so the outline stays within 0.7-1.3 x the mean radius
            harmonics = [
                [order, round(float(rng.uniform(0.0, 0.1)), 4),
                 round(float(rng.uniform(0.0, 2 * np.pi)), 4)]
                for order in (2, 3, 4)
            ]
            domains.append({
                "domain_id": f"{prefix}{i + 1:0{width}d}",
                "kind": kind,
                "x": round(float(rng.uniform(xmin, xmax))),
                "y": round(float(rng.uniform(ymin, ymax))),
                "radius_m": round(float(np.exp(rng.uniform(np.log(r_lo), np.log(r_hi))))),
                "harmonics": harmonics,
            })
    return domains


def rasterise_domains(domains: Sequence[Mapping[str, Any]], kind: str, lattice: Lattice,
                       edge_m: float) -> np.ndarray:
    """Membership weight in [0, 1] of ``kind`` domains on the lattice (max over bodies)."""
    weight = np.zeros(lattice.shape, dtype=np.float32)
    ny, nx = lattice.shape
    h = lattice.spacing_m
    # logistic scale such that the 10-90 % transition spans edge_m
    scale = edge_m / (2 * np.log(9.0))
    for dom in domains:
        if dom["kind"] != kind:
            continue
        reach = 1.3 * dom["radius_m"] + 3 * edge_m
        c0 = max(int((dom["x"] - reach - lattice.x0) // h), 0)
        c1 = min(int((dom["x"] + reach - lattice.x0) // h) + 2, nx)
        r0 = max(int((dom["y"] - reach - lattice.y0) // h), 0)
        r1 = min(int((dom["y"] + reach - lattice.y0) // h) + 2, ny)
        if c0 >= c1 or r0 >= r1:
            continue
        xs, ys = lattice.node_coords(slice(r0, r1), slice(c0, c1))
        dx, dy = xs - dom["x"], ys - dom["y"]
        r = np.hypot(dx, dy)
        w = special.expit((_blob_radius(dom, np.arctan2(dy, dx)) - r) / scale)
        np.maximum(weight[r0:r1, c0:c1], w.astype(np.float32), out=weight[r0:r1, c0:c1])
    return weight


def make_halos(preset: SynthPreset, seed: int, domains: Sequence[Mapping[str, Any]]
                ) -> dict[str, np.ndarray]:
    """Deposit positions, types, sizes and halo geometry (element-independent)."""
    rng = random_stream(seed, STREAM_DEPOSITS)
    xmin, ymin, xmax, ymax = preset.extent_m
    margin = 1_000.0
    n_total = preset.n_deposits + preset.n_hidden_deposits
    model_names = [name for name, _ in preset.deposit_models]
    weights = np.array([w for _, w in preset.deposit_models], dtype=float)
    size_names = list(DEPOSIT_SIZES)
    size_p = np.array([p for p, _, _ in DEPOSIT_SIZES.values()])
    granites = [d for d in domains if d["kind"] == "granite"]
    mafics = [d for d in domains if d["kind"] == "mafic"]
    # larger plutons host more deposits
    granite_p = np.array([d["radius_m"] for d in granites], dtype=float)
    mafic_p = np.array([d["radius_m"] for d in mafics], dtype=float)

    def inside(x: float, y: float) -> bool:
        return xmin + margin <= x <= xmax - margin and ymin + margin <= y <= ymax - margin

    x = np.empty(n_total)
    y = np.empty(n_total)
    model = rng.choice(len(model_names), size=n_total, p=weights / weights.sum())
    size = rng.choice(len(size_names), size=n_total, p=size_p)
    setting = []
    for k in range(n_total):
        dm = DEPOSIT_MODELS[model_names[model[k]]]
        u = rng.random()
        where = "anywhere"
        if u < dm.p_granite_contact and granites:
            where = "granite_contact"
        elif u < dm.p_granite_contact + dm.p_mafic and mafics:
            where = "mafic"
        for _attempt in range(50):
            if where == "granite_contact":
                dom = granites[rng.choice(len(granites), p=granite_p / granite_p.sum())]
                theta = rng.uniform(0, 2 * np.pi)
                # mostly just outside the contact (exocontact veins and skarns)
                r = _blob_radius(dom, np.array(theta)) * (1.0 + rng.normal(0.05, 0.1))
                px, py = dom["x"] + r * np.cos(theta), dom["y"] + r * np.sin(theta)
            elif where == "mafic":
                dom = mafics[rng.choice(len(mafics), p=mafic_p / mafic_p.sum())]
                theta = rng.uniform(0, 2 * np.pi)
                r = _blob_radius(dom, np.array(theta)) * 0.8 * np.sqrt(rng.random())
                px, py = dom["x"] + r * np.cos(theta), dom["y"] + r * np.sin(theta)
            else:
                px, py = rng.uniform(xmin + margin, xmax - margin), rng.uniform(
                    ymin + margin, ymax - margin)
            if inside(float(px), float(py)):
                break
        else:  # a domain hugging the border: fall back to anywhere
            where = "anywhere"
            px = rng.uniform(xmin + margin, xmax - margin)
            py = rng.uniform(ymin + margin, ymax - margin)
        x[k], y[k] = round(float(px)), round(float(py))
        setting.append(where)
    radius = np.array([DEPOSIT_SIZES[size_names[s]][2] for s in size]) * rng.uniform(0.8, 1.25, n_total)
    # halos stretch along drainage (dispersion trains): an ellipse of random orientation
    azimuth = rng.uniform(0.0, 180.0, n_total)
    aspect = rng.uniform(1.0, 2.5, n_total)
    hidden = np.zeros(n_total, dtype=bool)
    hidden[rng.choice(n_total, size=preset.n_hidden_deposits, replace=False)] = True
    return {
        "x": x, "y": y, "model": model, "size": size, "setting": np.array(setting),
        "radius_m": np.round(radius), "azimuth_deg": np.round(azimuth, 1),
        "aspect": np.round(aspect, 2), "hidden": hidden,
        "model_names": np.array(model_names), "size_names": np.array(size_names),
    }


def halo_amplitudes(halos: Mapping[str, np.ndarray], spec: ElementSpec, seed: int
                     ) -> np.ndarray:
    """Peak enrichment of ``spec`` at each halo (0 where its model does not enrich it)."""
    rng = random_stream(seed, STREAM_HALO_AMPLITUDE, ELEMENT_INDEX[spec.symbol])
    n = len(halos["x"])
    jitter = np.exp(rng.normal(0.0, _AMPLITUDE_LOG_SD, n))
    base = np.array([
        DEPOSIT_MODELS[str(halos["model_names"][m])].amplitudes.get(spec.symbol, 0.0)
        for m in halos["model"]
    ])
    size_mult = np.array([DEPOSIT_SIZES[str(halos["size_names"][s])][1] for s in halos["size"]])
    return base * size_mult * jitter


"""The synthetic-survey generator: samples and their values, the deposits table and the truth.

What lives here: :class:`SynthGenerator`, which builds the world once (fields, domains and
halos from :mod:`geogan.synth.fields`) and yields the survey chunk by chunk: drainage-like
sample locations with field duplicates, values (background factors and fields, domains,
halos, nugget and analytical noise), laboratory rounding, censoring and missing cells. What
does not: the known-deposit table and the ``truth.json`` record (:mod:`geogan.synth.truth`),
the front doors and files (:mod:`geogan.synth.memory`, :mod:`geogan.synth.writer`),
parameters (:mod:`geogan.synth.presets`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import special
from scipy.spatial import cKDTree

from geogan.synth.elements import ELEMENT_INDEX, ELEMENTS, ElementSpec
from geogan.synth.fields import (
    STREAM_ELEMENT_FIELD,
    STREAM_FACTOR_FIELD,
    STREAM_LABS,
    STREAM_LOCATIONS,
    STREAM_SPIKES,
    STREAM_VALUES,
    Lattice,
    gaussian_field,
    halo_amplitudes,
    make_domains,
    make_halos,
    random_stream,
    rasterise_domains,
)
from geogan.synth.presets import SHALE_FACTORS, SynthPreset

# Variance shares of an element's background log-sd: shared factors, its own spatial field,
# and the spatially uncorrelated sampling "nugget". Real stream sediments carry a large nugget,
# which is what makes single-sample anomalies unreliable and IDW smoothing useful.
SHARE_FACTORS = 0.40
SHARE_OWN_FIELD = 0.25
SHARE_NUGGET = 0.35

SIGNIFICANT_DIGITS = 3
# An element column is text (may hold "<DL") when censoring is possible at all: expected
# censored fraction above this, under the lowest domain factor.
_TEXT_COLUMN_MIN_CENSORED = 1e-7
_COORD_DECIMALS = 0  # metres: what field GPS and map-sheet digitising give

# Halos decay as exp(-(d / r)^2): clear over ~2 r, gone by ~3 r. An exponential tail would
# lift a large deposit's W by >10 % some 30 km away, which no regional survey shows.
_HALO_CUTOFF = 3.5  # in units of r; the kernel is below 5e-6 beyond


def _is_text_column(spec: ElementSpec) -> bool:
    lowest = spec.median * min(spec.granite_factor, spec.mafic_factor, 1.0)
    sd = math.hypot(spec.log_sd, spec.analytical_rsd)
    z = (math.log(spec.detection_limit) - math.log(lowest)) / sd
    return float(special.ndtr(z)) > _TEXT_COLUMN_MIN_CENSORED


def _format_number(value: float) -> str:
    return format(value, "g")


class SynthGenerator:
    """Holds the world (fields, domains, halos) and yields the survey chunk by chunk.

    ``elements`` are resolved :class:`ElementSpec` (see :func:`geogan.synth.presets.resolve_elements`);
    :meth:`chunks` yields Arrow tables of ``schema``, and counts the censored and missing cells
    and field duplicates that :func:`geogan.synth.truth.truth_record` then reports (so call it
    after the chunks).
    """

    def __init__(self, preset: SynthPreset, elements: tuple[ElementSpec, ...], n_samples: int,
                 seed: int) -> None:
        self.preset = preset
        self.elements = elements
        self.n_samples = n_samples
        self.seed = seed
        self.lattice = Lattice.over(preset.extent_m, preset.lattice_m)
        self.domains = make_domains(preset, seed)
        self.granite = rasterise_domains(self.domains, "granite", self.lattice,
                                          preset.domain_edge_m)
        self.mafic = rasterise_domains(self.domains, "mafic", self.lattice,
                                        preset.domain_edge_m)
        self.shale = rasterise_domains(self.domains, "shale", self.lattice,
                                        preset.domain_edge_m) if preset.n_shale else None
        self.lab_sheets = self._lab_sheets()
        self.spikes: list[dict[str, Any]] = []
        self.factors = np.stack([
            gaussian_field(random_stream(seed, STREAM_FACTOR_FIELD, k), self.lattice, corr)
            for k, corr in enumerate(preset.factor_corr_m)
        ])
        # filled in place: stacking a list would briefly hold every field twice
        self.own_fields = np.empty((len(elements), *self.lattice.shape), dtype=np.float32)
        for i, e in enumerate(elements):
            self.own_fields[i] = gaussian_field(
                random_stream(seed, STREAM_ELEMENT_FIELD, ELEMENT_INDEX[e.symbol]), self.lattice,
                preset.element_corr_m)
        self.halos = make_halos(preset, seed, self.domains)
        self.amplitudes = np.stack([halo_amplitudes(self.halos, e, seed) for e in elements])
        self.reach = np.array([e.halo_reach for e in elements])
        self.text_columns = tuple(_is_text_column(e) for e in elements)
        self.censored_counts = np.zeros(len(elements), dtype=np.int64)
        self.missing_counts = np.zeros(len(elements), dtype=np.int64)
        self.n_duplicates = 0
        self.id_width = max(6, len(str(n_samples)))
        mean_spacing_m = math.sqrt(preset.area_km2 * 1e6 / n_samples)
        self.stream_step_m = 0.4 * mean_spacing_m
        self.schema = pa.schema(
            [("sample_id", pa.string()), ("x", pa.float64()), ("y", pa.float64())]
            + [(e.column, pa.string() if text else pa.float64())
               for e, text in zip(elements, self.text_columns)]
            + ([("lab", pa.string())] if self.lab_sheets else [])
        )

    def _lab_sheets(self) -> list[tuple[int, int]]:
        """The map sheets ``(column, row)`` of ``sheet_m`` squares a second laboratory analysed."""
        preset = self.preset
        if not preset.lab_sheets:
            return []
        xmin, ymin, xmax, ymax = preset.extent_m
        nx = max(1, math.ceil((xmax - xmin) / preset.sheet_m))
        ny = max(1, math.ceil((ymax - ymin) / preset.sheet_m))
        picked = random_stream(self.seed, STREAM_LABS).choice(nx * ny, size=min(preset.lab_sheets, nx * ny),
                                                              replace=False)
        return sorted((int(k % nx), int(k // nx)) for k in picked)

    def _in_lab_sheets(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        xmin, ymin, _, _ = self.preset.extent_m
        col = np.floor((x - xmin) / self.preset.sheet_m).astype(np.int64)
        row = np.floor((y - ymin) / self.preset.sheet_m).astype(np.int64)
        out = np.zeros(len(x), dtype=bool)
        for c, r in self.lab_sheets:
            out |= (col == c) & (row == r)
        return out

    @property
    def n_chunks(self) -> int:
        """Number of chunks (of ``preset.chunk_samples`` samples) :meth:`chunks` yields."""
        return math.ceil(self.n_samples / self.preset.chunk_samples)

    def chunks(self) -> Iterator[pa.Table]:
        """The survey table, chunk by chunk (each from its own random streams)."""
        size = self.preset.chunk_samples
        for c in range(self.n_chunks):
            start = c * size
            yield self._chunk(c, start, min(size, self.n_samples - start))

    # -- locations

    def _locations(self, chunk: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng = random_stream(self.seed, STREAM_LOCATIONS, chunk)
        xmin, ymin, xmax, ymax = self.preset.extent_m
        n_stream = int(round(self.preset.stream_fraction * n))
        # drainage-like lines: random walks with gently turning heading, 6-25 samples each
        lengths = rng.integers(6, 26, size=n_stream // 6 + 1)
        lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_stream) + 1]
        if len(lengths):
            lengths[-1] -= lengths.sum() - n_stream
        lengths = lengths[lengths > 0]
        group = np.repeat(np.arange(len(lengths)), lengths)
        first = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)

        def cumsum_in_group(values: np.ndarray) -> np.ndarray:
            total = np.cumsum(values)
            return total - np.repeat(total[first] - values[first], lengths)

        turn = rng.normal(0.0, 0.35, n_stream)
        turn[first] = 0.0
        heading = rng.uniform(0.0, 2 * np.pi, len(lengths))[group] + cumsum_in_group(turn)
        step = self.stream_step_m * rng.uniform(0.7, 1.3, n_stream)
        step[first] = 0.0
        x_stream = rng.uniform(xmin, xmax, len(lengths))[group] + cumsum_in_group(
            step * np.cos(heading))
        y_stream = rng.uniform(ymin, ymax, len(lengths))[group] + cumsum_in_group(
            step * np.sin(heading))
        jitter = 0.08 * self.stream_step_m
        x_stream += rng.normal(0.0, jitter, n_stream)
        y_stream += rng.normal(0.0, jitter, n_stream)
        n_uniform = n - n_stream
        x = np.concatenate([x_stream, rng.uniform(xmin, xmax, n_uniform)])
        y = np.concatenate([y_stream, rng.uniform(ymin, ymax, n_uniform)])
        x, y = _reflect(x, xmin, xmax), _reflect(y, ymin, ymax)
        order = rng.permutation(n)
        x = np.round(x[order], _COORD_DECIMALS)
        y = np.round(y[order], _COORD_DECIMALS)
        # field duplicates: a second sample taken at an existing site
        n_dup = int(round(self.preset.duplicate_fraction * n)) if n >= 2 else 0
        n_dup = min(n_dup, n // 2)
        if n_dup:
            picked = rng.choice(n, size=2 * n_dup, replace=False)
            source, copy = picked[:n_dup], picked[n_dup:]
            x[copy], y[copy] = x[source], y[source]
        self.n_duplicates += n_dup
        return x, y

    # -- halos

    def _halo_enrichment(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(n_elements, n)`` summed multiplicative enrichment minus one."""
        n = len(x)
        halos = self.halos
        enrichment = np.zeros((len(self.elements), n))
        active = self.amplitudes.max(axis=0) > 0
        if not active.any():
            return enrichment
        # catalogue-wide, not over the chosen elements: a subset must give identical sums
        reach_max = max(spec.halo_reach for spec in ELEMENTS.values())
        hx, hy = halos["x"][active], halos["y"][active]
        radius = halos["radius_m"][active]
        aspect = halos["aspect"][active]
        cutoff = _HALO_CUTOFF * reach_max * radius * np.sqrt(aspect)
        neighbours = cKDTree(np.column_stack([x, y])).query_ball_point(
            np.column_stack([hx, hy]), r=cutoff)
        counts = np.fromiter((len(v) for v in neighbours), dtype=np.intp, count=len(hx))
        if counts.sum() == 0:
            return enrichment
        h = np.repeat(np.arange(len(hx)), counts)
        j = np.concatenate([np.asarray(v, dtype=np.intp) for v in neighbours])
        phi = np.deg2rad(halos["azimuth_deg"][active])[h]
        dx, dy = x[j] - hx[h], y[j] - hy[h]
        along = dx * np.cos(phi) + dy * np.sin(phi)
        across = -dx * np.sin(phi) + dy * np.cos(phi)
        a = aspect[h]
        scaled = np.sqrt(along * along / a + across * across * a) / radius[h]
        amps = self.amplitudes[:, active]
        for e, reach in enumerate(self.reach):
            ratio = scaled / reach
            weight = amps[e, h] * np.exp(-ratio * ratio)
            enrichment[e] = np.bincount(j, weights=weight, minlength=n)
        return enrichment

    # -- one chunk

    def _chunk(self, chunk: int, start: int, n: int) -> pa.Table:
        x, y = self._locations(chunk, n)
        factors = self.lattice.sample(self.factors, x, y).astype(np.float64)
        own = self.lattice.sample(self.own_fields, x, y).astype(np.float64)
        granite = self.lattice.sample(self.granite, x, y).astype(np.float64)
        mafic = self.lattice.sample(self.mafic, x, y).astype(np.float64)
        shale = (self.lattice.sample(self.shale, x, y).astype(np.float64) if self.shale is not None
                 else np.zeros(n))
        lab_b = self._in_lab_sheets(x, y) if self.lab_sheets else np.zeros(n, dtype=bool)
        spike_element, spike_log = self._spikes(chunk, start, n)
        enrichment = self._halo_enrichment(x, y)
        columns: list[pa.Array] = [
            pa.array([f"S{i:0{self.id_width}d}" for i in range(start + 1, start + n + 1)],
                     type=pa.string()),
            pa.array(x), pa.array(y),
        ]
        for e, spec in enumerate(self.elements):
            rng = random_stream(self.seed, STREAM_VALUES, chunk, ELEMENT_INDEX[spec.symbol])
            nugget = rng.standard_normal(n)
            analytical = rng.standard_normal(n)
            missing = rng.random(n) < spec.missing_fraction
            loadings = np.asarray(spec.loadings, dtype=float)
            norm = np.linalg.norm(loadings)
            if norm > 0:
                spatial = (math.sqrt(SHARE_FACTORS) * (loadings / norm) @ factors
                           + math.sqrt(SHARE_OWN_FIELD) * own[e])
            else:
                spatial = math.sqrt(SHARE_FACTORS + SHARE_OWN_FIELD) * own[e]
            log_value = (
                math.log(spec.median)
                + spec.log_sd * (spatial + math.sqrt(SHARE_NUGGET) * nugget)
                + granite * math.log(spec.granite_factor)
                + mafic * math.log(spec.mafic_factor)
                + shale * math.log(SHALE_FACTORS.get(spec.symbol, 1.0))
                + lab_b * math.log(self.preset.lab_bias.get(spec.symbol, 1.0))
                + np.where(spike_element == e, spike_log, 0.0)
                + spec.analytical_rsd * analytical
            )
            value = np.exp(log_value) * (1.0 + enrichment[e])
            if spec.max_value is not None:
                value = np.minimum(value, spec.max_value)
            value = _round_significant(value, SIGNIFICANT_DIGITS)
            censored = (value < spec.detection_limit) & ~missing
            self.missing_counts[e] += int(missing.sum())
            if self.text_columns[e]:
                self.censored_counts[e] += int(censored.sum())
                text = pc.cast(pa.array(value, mask=missing), pa.string())
                dl_text = pa.scalar(f"<{_format_number(spec.detection_limit)}")
                columns.append(pc.if_else(pa.array(censored), dl_text, text))
            else:
                columns.append(pa.array(value, mask=missing))
        if self.lab_sheets:
            columns.append(pa.array(np.where(lab_b, "B", "A")))
        return pa.Table.from_arrays(columns, schema=self.schema)

    def _spikes(self, chunk: int, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Single-sample highs: per sample, the spiked element's index (-1: none) and the log
        of its factor; recorded for :func:`geogan.synth.truth.truth_record`."""
        element = np.full(n, -1, dtype=np.int64)
        log_factor = np.zeros(n)
        if not self.preset.spike_fraction:
            return element, log_factor
        rng = random_stream(self.seed, STREAM_SPIKES, chunk)
        hit = np.flatnonzero(rng.random(n) < self.preset.spike_fraction)
        lo, hi = self.preset.spike_factor
        # the spiked element is drawn from the whole catalogue's trace elements (ppm, ppb: a
        # major oxide is not contaminated 20-fold), so a subset of elements keeps the same
        # spikes (and a spike on an element not generated is simply not seen)
        symbols = [s for s, spec in ELEMENTS.items() if spec.unit != "pct"]
        drawn = rng.integers(0, len(symbols), size=hit.size)
        factors = np.exp(rng.uniform(math.log(lo), math.log(hi), size=hit.size))
        chosen = {spec.symbol: e for e, spec in enumerate(self.elements)}
        for i, k, f in zip(hit, drawn, factors):
            e = chosen.get(symbols[k])
            if e is None:
                continue
            element[i], log_factor[i] = e, math.log(f)
            self.spikes.append({"sample_id": f"S{start + i + 1:0{self.id_width}d}", "element": symbols[k],
                                "factor": round(float(f), 1)})
        return element, log_factor


def _reflect(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold coordinates back into ``[lo, hi]`` (keeps the density near the borders)."""
    width = hi - lo
    t = np.mod(values - lo, 2 * width)
    return lo + np.where(t > width, 2 * width - t, t)


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round positive values to ``digits`` significant figures, as laboratories report.

    Dividing an integer by an exact power of ten gives the double nearest to the decimal,
    so the written text is short (``1.83``, not ``1.8300000000000001``).
    """
    decimals = digits - 1 - np.floor(np.log10(values))
    scale = 10.0 ** np.abs(decimals)
    return np.where(decimals >= 0, np.round(values * scale) / scale,
                    np.round(values / scale) * scale)


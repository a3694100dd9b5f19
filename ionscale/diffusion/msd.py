"""Mean-square displacement of MD trajectories, the squared-displacement statistics and hops.

Methods
-------
Mean-square displacement (MSD)
    The time-origin averaged MSD of every lag at once, in O(N log N) per atom and direction, by
    the FFT algorithm of nMOLDYN (Kneller, Keiner, Kneller, Schiller, Comput. Phys. Commun. 91,
    191 (1995); Calandrini, Pellegrini, Calligari, Hinsen, Kneller, Collection SFN 12, 201
    (2011)): MSD(m) = S1(m) − 2·S2(m), with S2 the position autocorrelation computed by a
    zero-padded FFT and S1(m) = Σ_k [r²(k+m) + r²(k)] / (N − m) from cumulative sums. Positions
    are taken relative to the system's centre of mass when the trajectory stores it (drift
    correction). :func:`msd_direct` is the O(N²) windowed definition, kept for tests and bench.

Hops
    An independent-event count: per atom, a hop is counted each time the atom is farther than
    ``hop_distance_A`` from its anchor, and the anchor then moves to the current position. With
    few hops a D and its uncertainty mean little; a warning says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ionscale.diffusion.settings import DiffusionInputError

#: memory budget for one block of atoms in the FFT / squared-displacement passes (bytes)
_BLOCK_BYTES = 256 * 1024**2


def _as_frames_atoms_xyz(positions: np.ndarray) -> np.ndarray:
    x = np.asarray(positions, dtype=float)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3 or x.shape[2] != 3:
        raise DiffusionInputError(
            f"positions must have shape (n_frames, n_atoms, 3) in Å, got {x.shape}"
        )
    if x.shape[0] < 2:
        raise DiffusionInputError(f"an MSD needs at least 2 frames, got {x.shape[0]}")
    return x


def msd_fft(positions: np.ndarray) -> np.ndarray:
    """Time-origin averaged MSD per Cartesian component, for every lag, by FFT (nMOLDYN).

    Parameters
    ----------
    positions:
        Unwrapped positions, Å, shape (n_frames, n_atoms, 3) (or (n_frames, 3) for one atom),
        frames equally spaced in time.

    Returns
    -------
    numpy.ndarray
        Shape (n_frames, 3), Å²: ⟨(x_a(k+m) − x_a(k))²⟩ averaged over origins k and atoms, per
        component a, for lags m = 0 … n_frames − 1. Sum the columns for the MSD of a direction set.
    """
    from scipy import fft

    x = _as_frames_atoms_xyz(positions)
    n = x.shape[0]
    nfft = fft.next_fast_len(2 * n, real=True)
    counts = (n - np.arange(n)).astype(float)[:, None, None]
    lags = np.arange(n)
    out = np.zeros((n, 3))
    block = max(1, _BLOCK_BYTES // (16 * nfft * 3))
    for a0 in range(0, x.shape[1], block):
        xb = x[:, a0 : a0 + block]
        # A constant shift per atom leaves the MSD unchanged and shrinks round-off in S1 − 2·S2.
        xb = xb - xb.mean(axis=0)
        spec = fft.rfft(xb, n=nfft, axis=0)
        s2 = fft.irfft(spec * spec.conj(), n=nfft, axis=0)[:n] / counts
        csum = np.concatenate([np.zeros((1, *xb.shape[1:])), np.cumsum(xb**2, axis=0)])
        # Σ_{k=0}^{n-m-1} x²(k) + Σ_{k=m}^{n-1} x²(k)
        s1 = (csum[n - lags] + (csum[n] - csum[lags])) / counts
        out += (s1 - 2.0 * s2).sum(axis=1)
    return out / x.shape[1]


def msd_direct(positions: np.ndarray, lags: Sequence[int] | None = None) -> np.ndarray:
    """The windowed MSD by its definition, O(n_frames²): the reference for :func:`msd_fft`.

    Returns shape (len(lags), 3) in Å² (per component), lags in frames (default: all).
    """
    x = _as_frames_atoms_xyz(positions)
    n = x.shape[0]
    lags = np.arange(n) if lags is None else np.asarray(lags, dtype=int)
    out = np.zeros((len(lags), 3))
    for i, m in enumerate(lags):
        if m == 0:
            continue
        d = x[m:] - x[:-m]
        out[i] = (d**2).mean(axis=(0, 1))
    return out


def squared_displacement_stats(
    positions: np.ndarray, lags: Sequence[int], components: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample variance of the squared displacement over all origins and atoms.

    Parameters
    ----------
    positions:
        Unwrapped positions, Å, (n_frames, n_atoms, 3).
    lags:
        Lags in frames (≥ 1).
    components:
        Cartesian components summed into the squared displacement, e.g. (0, 1) for in-plane.

    Returns
    -------
    (mean Å², variance Å⁴), each of shape (len(lags),).
    """
    x = _as_frames_atoms_xyz(positions)[:, :, list(components)]
    mean = np.empty(len(lags))
    var = np.empty(len(lags))
    for i, m in enumerate(lags):
        if m < 1 or m >= x.shape[0]:
            raise DiffusionInputError(f"lag {m} outside 1 … {x.shape[0] - 1} frames")
        s = ((x[m:] - x[:-m]) ** 2).sum(axis=2)
        mean[i] = s.mean()
        var[i] = s.var(ddof=1) if s.size > 1 else np.nan
    return mean, var


def count_hops(
    positions: np.ndarray, hop_distance_A: float, residence_frames: int = 1
) -> np.ndarray:
    """Hops per atom: moves of the residence-averaged position farther than ``hop_distance_A``
    (Å) from the last anchor.

    Positions are first averaged over ``residence_frames`` consecutive frames (a moving
    average; 1: none), so thermal vibration shrinks by about √(residence_frames / its
    correlation length in frames) and an excursion shorter than the residence time (out and
    straight back) is not a hop. The anchor starts at the first averaged frame; at a hop it
    jumps to the averaged position ``residence_frames`` later, where the atom has settled at
    its new site (not to the crossing point between sites, from which an ordinary vibration
    at the new site would count again), and the atom is judged again from there on. A hop
    back counts again.

    Returns an integer array (n_atoms,).
    """
    from scipy.ndimage import uniform_filter1d

    x = _as_frames_atoms_xyz(positions)
    if hop_distance_A <= 0:
        raise DiffusionInputError(f"hop distance must be > 0 Å, got {hop_distance_A}")
    w = int(residence_frames)
    if w < 1:
        raise DiffusionInputError(f"residence must be ≥ 1 frame, got {residence_frames}")
    if w > 1:
        x = uniform_filter1d(x, size=w, axis=0, mode="nearest")
    n = x.shape[0]
    anchor = x[0].copy()
    hops = np.zeros(x.shape[1], dtype=int)
    settled = np.zeros(x.shape[1], dtype=int)  # frame from which an atom is judged again
    limit = hop_distance_A**2
    for t in range(1, n):
        moved = (((x[t] - anchor) ** 2).sum(axis=1) > limit) & (t >= settled)
        if moved.any():
            hops += moved
            later = min(t + w, n - 1)
            anchor[moved] = x[later][moved]
            settled[moved] = later
    return hops

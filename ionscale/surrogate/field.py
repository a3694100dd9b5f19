"""A reduced-order surrogate of phase-field microstructure evolution.

Method (after Montes de Oca Zapiain, Stewart & Dingreville, "Accelerating phase-field-based
microstructure evolution predictions via surrogate models trained by machine learning
methods", npj Comput. Mater. 7, 3 (2021)):

1. **Statistics.** Each snapshot c(x) of a periodic field is reduced to its two-point
   autocorrelation of the fluctuation δc = c − ⟨c⟩ (the autocovariance),

       S(r) = ⟨δc(x) δc(x + r)⟩_x = F⁻¹[ |F[δc]|² ](r) / N ,

   computed with FFTs (Wiener–Khinchin; O(N log N), exact for periodic fields). S is invariant
   to translations of the microstructure, which a pixel-wise comparison is not; S(0) is the
   variance, the decay of S gives the interface density and the position of its first
   minimum the domain size. For statistically isotropic microstructures (Cahn–Hilliard
   spinodal decomposition from a random start) S is averaged over directions, S(|r|), in
   integer-pixel shells up to half the smallest box length. The paper keeps the full S of
   512² fields; on the 32²–128² fields of a sweep the angular detail of S is realisation noise
   of the few domains in the box (it left a 20–70 % PCA-truncation error on 32²–64²
   Cahn–Hilliard trajectories with 5–8 components, against 1–3 % for S(|r|)).
   ``isotropic=False`` keeps the full S for anisotropic microstructures.
2. **Reduction.** Principal component analysis (scikit-learn) of the S of every training
   snapshot; a handful of PC scores z ∈ R^k carry the evolution.
3. **Evolution.** The paper compares a time-series MARS autoregression with an LSTM network
   trained on a large database of phase-field runs. A sweep here has tens of trajectories, too
   few for a recurrent network, so we learn an autoregressive one-step map instead (the
   dimensionality-reduction + autoregressive-GP route the paper cites as prior work):

       z_{j+1} − z_j = g(z_j, p, φ(t_j), φ(t_{j+1})),   φ(t) = log10(t / t_ref + 10⁻⁴)

   with p the case parameters (unit cube), t_ref the longest training trajectory, and g a
   multi-output Gaussian-process regression (Matérn-5/2 ARD + white noise, hyperparameters by
   marginal likelihood; one kernel shared by the k outputs). Why a GP: it is smooth, needs no
   architecture or training-schedule tuning, works with a few hundred transitions, and its
   hyperparameters come from the data alone. A trajectory is predicted by rolling the map out
   from the statistics of the initial snapshot (which the case's initial condition gives
   without running the solver).

The error is reported on whole trajectories: the relative L2 error of the predicted statistics
over every predicted snapshot, ‖Ŝ − S‖ / ‖S‖, together with the floor set by the PCA truncation
(the error of projecting the true S onto the k components).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ionscale.surrogate.design import ParameterSpace, SurrogateInputError
from ionscale.surrogate.scalar import make_kernel


def two_point_autocorrelation(field: Any) -> np.ndarray:
    """Autocovariance S(r) of a periodic field (any dimension), same shape as the field.

    S(r) = ⟨δc(x) δc(x + r)⟩ with δc = c − ⟨c⟩; S[0, …, 0] is the variance of c. Units: those
    of c squared.
    """
    c = np.asarray(field, dtype=float)
    dc = c - c.mean()
    spec = np.fft.rfftn(dc)
    axes = tuple(range(c.ndim))
    return np.fft.irfftn(spec * np.conj(spec), s=c.shape, axes=axes) / c.size


def radial_average(stat: Any) -> np.ndarray:
    """Average a periodic statistic S(r) over directions: S(|r|) on shells |r| = 0, 1, …, ⌊L/2⌋
    pixels (L the smallest box length; minimum-image distances, nearest-integer shells)."""
    stat = np.asarray(stat, dtype=float)
    axes = [np.fft.fftfreq(n) * n for n in stat.shape]  # signed minimum-image offsets, px
    r = np.sqrt(sum(g**2 for g in np.meshgrid(*axes, indexing="ij")))
    r_max = min(stat.shape) // 2
    shell = np.rint(r).astype(int).ravel()
    keep = shell <= r_max
    total = np.bincount(shell[keep], weights=stat.ravel()[keep], minlength=r_max + 1)
    count = np.bincount(shell[keep], minlength=r_max + 1)
    return total / count


def two_point_statistics(field: Any, isotropic: bool = True) -> np.ndarray:
    """The feature vector of one snapshot: S(|r|) if ``isotropic`` else the flattened S(r)."""
    stat = two_point_autocorrelation(field)
    return radial_average(stat) if isotropic else stat.ravel()


@dataclass
class Trajectory:
    """One case's snapshots and the parameters that produced them.

    Parameters
    ----------
    times:
        Snapshot times (n_t,), increasing, in the solver's time unit.
    snapshots:
        Fields (n_t, *grid), periodic.
    params:
        Case parameters (d,) in physical units, ordered as the :class:`ParameterSpace`.
    name:
        Case name (messages only).
    """

    times: np.ndarray
    snapshots: np.ndarray
    params: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=float).ravel()
        self.snapshots = np.asarray(self.snapshots, dtype=float)
        self.params = np.asarray(self.params, dtype=float).ravel()
        if self.snapshots.ndim < 3 or len(self.snapshots) != len(self.times):
            raise SurrogateInputError(
                f"trajectory {self.name!r}: snapshots must be (n_t, nx, ny[, nz]) with n_t = "
                f"{len(self.times)} times, got shape {self.snapshots.shape}"
            )
        if len(self.times) < 2 or np.any(np.diff(self.times) <= 0):
            raise SurrogateInputError(
                f"trajectory {self.name!r}: needs ≥ 2 snapshots at increasing times"
            )

    def statistics(self, isotropic: bool = True) -> np.ndarray:
        """Two-point statistics of every snapshot, (n_t, n_features)."""
        return np.stack([two_point_statistics(s, isotropic) for s in self.snapshots])


class FieldEvolutionSurrogate:
    """Two-point statistics + PCA + a GP one-step map in PC space (see module docstring).

    Parameters
    ----------
    space:
        Case parameters the evolution depends on.
    n_components:
        Principal components kept (at most the number of training snapshots − 1).
    seed:
        Seed of the PCA solver and the GP optimiser restarts.
    n_restarts:
        Extra restarts of the GP marginal-likelihood optimisation.
    isotropic:
        Direction-averaged statistics S(|r|) (default) or the full S(r).
    """

    def __init__(
        self,
        space: ParameterSpace,
        n_components: int = 5,
        seed: int = 0,
        n_restarts: int = 2,
        isotropic: bool = True,
    ) -> None:
        self.space = space
        self.isotropic = isotropic
        self.n_components = n_components
        self.seed = seed
        self.n_restarts = n_restarts
        self.grid_shape: tuple[int, ...] | None = None
        self.pca_: Any = None
        self.gp_: Any = None
        self.feature_mean_: np.ndarray | None = None
        self.feature_scale_: np.ndarray | None = None
        self.time_scale_: float = 1.0

    # -- features -------------------------------------------------------------------------
    def _log_time(self, t: Any) -> np.ndarray:
        """φ(t) = log10(t / t_ref + 1e-4), t_ref the longest training trajectory: resolves
        linearly and logarithmically spaced snapshots alike, and t = 0."""
        return np.log10(np.asarray(t, dtype=float).reshape(-1, 1) / self.time_scale_ + 1e-4)

    def _features(self, z: np.ndarray, params: np.ndarray, t0: Any, t1: Any) -> np.ndarray:
        """Regressor inputs [z_j, p (unit cube), φ(t_j), φ(t_{j+1})]."""
        z = np.atleast_2d(z)
        p = np.repeat(self.space.to_unit(params), len(z), axis=0)
        return np.hstack([z, p, self._log_time(t0), self._log_time(t1)])

    def _scale(self, f: np.ndarray) -> np.ndarray:
        return (f - self.feature_mean_) / self.feature_scale_

    # -- training ---------------------------------------------------------------------------
    def fit(self, trajectories: Sequence[Trajectory]) -> FieldEvolutionSurrogate:
        """Fit the PCA basis and the one-step map on whole training trajectories."""
        from sklearn.decomposition import PCA
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        if len(trajectories) < 2:
            raise SurrogateInputError(
                f"field surrogate: needs ≥ 2 training trajectories, got {len(trajectories)}"
            )
        shapes = {t.snapshots.shape[1:] for t in trajectories}
        if len(shapes) != 1:
            raise SurrogateInputError(
                f"field surrogate: trajectories have different grids {sorted(shapes)}; "
                "the two-point statistics of different grids are not comparable"
            )
        self.grid_shape = shapes.pop()
        stats = [t.statistics(self.isotropic) for t in trajectories]
        all_stats = np.vstack(stats)
        k = min(self.n_components, all_stats.shape[0] - 1)
        self.pca_ = PCA(n_components=k, random_state=self.seed).fit(all_stats)
        self.time_scale_ = max(float(t.times[-1]) for t in trajectories)

        feats, targets = [], []
        for traj, s in zip(trajectories, stats, strict=True):
            z = self.pca_.transform(s)
            feats.append(self._features(z[:-1], traj.params, traj.times[:-1], traj.times[1:]))
            targets.append(z[1:] - z[:-1])
        x = np.vstack(feats)
        y = np.vstack(targets)
        self.feature_mean_ = x.mean(axis=0)
        self.feature_scale_ = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        self.gp_ = GaussianProcessRegressor(
            kernel=make_kernel(x.shape[1], length_scale_min=0.05),  # standardised features
            normalize_y=True,
            n_restarts_optimizer=self.n_restarts,
            random_state=self.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp_.fit(self._scale(x), y)
        return self

    # -- prediction -------------------------------------------------------------------------
    def rollout(self, initial_snapshot: Any, params: Any, times: Any) -> np.ndarray:
        """Predicted two-point statistics (n_t, n_features) at ``times``, starting from the
        statistics of ``initial_snapshot`` at ``times[0]`` (row 0 is its PCA projection)."""
        if self.gp_ is None:
            raise RuntimeError("field surrogate is not fitted")
        snap = np.asarray(initial_snapshot, dtype=float)
        if snap.shape != self.grid_shape:
            raise SurrogateInputError(
                f"field surrogate: initial snapshot has grid {snap.shape}, trained on "
                f"{self.grid_shape}"
            )
        times = np.asarray(times, dtype=float).ravel()
        params = np.asarray(params, dtype=float).reshape(1, -1)
        z = self.pca_.transform(two_point_statistics(snap, self.isotropic).reshape(1, -1))
        out = [z[0]]
        for t0, t1 in itertools.pairwise(times):
            step = self.gp_.predict(self._scale(self._features(out[-1], params, t0, t1)))
            out.append(out[-1] + np.ravel(step))
        return self.pca_.inverse_transform(np.asarray(out))

    def trajectory_error(self, traj: Trajectory) -> dict[str, Any]:
        """Relative L2 error of the predicted statistics over a whole trajectory.

        ``relative_l2`` = ‖Ŝ − S‖_F / ‖S‖_F over snapshots 1…n_t−1 (snapshot 0 is the given
        initial condition); ``pca_floor`` is the same for the PCA projection of the true S
        (the best any evolution model in this basis can do); ``per_snapshot`` the relative
        error of each predicted snapshot.
        """
        truth = traj.statistics(self.isotropic)
        pred = self.rollout(traj.snapshots[0], traj.params, traj.times)
        proj = self.pca_.inverse_transform(self.pca_.transform(truth))
        num = np.linalg.norm(pred[1:] - truth[1:])
        den = np.linalg.norm(truth[1:])
        per = np.linalg.norm(pred[1:] - truth[1:], axis=1) / np.maximum(
            np.linalg.norm(truth[1:], axis=1), 1e-300
        )
        return {
            "case": traj.name,
            "relative_l2": float(num / den),
            "pca_floor": float(np.linalg.norm(proj[1:] - truth[1:]) / den),
            "per_snapshot": per.tolist(),
            "final_snapshot": float(per[-1]),
        }

    @property
    def explained_variance_ratio(self) -> list[float]:
        return [] if self.pca_ is None else self.pca_.explained_variance_ratio_.tolist()


def train_field_surrogate(
    space: ParameterSpace,
    trajectories: Sequence[Trajectory],
    *,
    test_fraction: float,
    n_components: int,
    seed: int,
    n_restarts: int = 2,
    isotropic: bool = True,
    where: str = "",
) -> tuple[FieldEvolutionSurrogate, dict[str, Any]]:
    """Hold out whole trajectories, fit on the rest, report errors on both sets."""
    from ionscale.surrogate.scalar import split_train_test

    train, test = split_train_test(len(trajectories), test_fraction, seed, min_train=2, where=where)
    model = FieldEvolutionSurrogate(space, n_components, seed, n_restarts, isotropic)
    model.fit([trajectories[i] for i in train])
    train_err = [model.trajectory_error(trajectories[i]) for i in train]
    test_err = [model.trajectory_error(trajectories[i]) for i in test]
    metrics = {
        "n_train_trajectories": len(train),
        "n_test_trajectories": len(test),
        "n_components": model.pca_.n_components_,
        "explained_variance_ratio": model.explained_variance_ratio,
        "grid_shape": list(model.grid_shape or ()),
        "statistics": "direction-averaged S(|r|)" if isotropic else "full S(r)",
        "regressor": "Gaussian-process one-step map in PCA space (module docstring)",
        "kernel": str(model.gp_.kernel_),
        "train_relative_l2_mean": float(np.mean([e["relative_l2"] for e in train_err])),
        "test_relative_l2_mean": float(np.mean([e["relative_l2"] for e in test_err])),
        "test_relative_l2_max": float(np.max([e["relative_l2"] for e in test_err])),
        "test_pca_floor_mean": float(np.mean([e["pca_floor"] for e in test_err])),
        "train": train_err,
        "test": test_err,
    }
    return model, metrics

"""Settings of the fingerprint stage (config key ``fingerprint``) and its error type.

:class:`SoapSettings` are the dscribe SOAP parameters of :mod:`ionscale.fingerprint.descriptors`;
:class:`FingerprintSettings` add the split (:mod:`ionscale.fingerprint.selection`). Defaults come
from the config schema (:func:`ionscale.settings.default`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ionscale.settings import default

#: Split methods: "fps" (farthest-point sampling of the training set) or "random".
SPLIT_METHODS = ("fps", "random")


class FingerprintError(ValueError):
    """Bad input to the fingerprint stage (a file, a frame or a setting)."""


@dataclass(frozen=True)
class SoapSettings:
    """SOAP settings (dscribe).

    Parameters
    ----------
    r_cut_A:
        Cutoff radius, Å.
    n_max:
        Number of radial basis functions.
    l_max:
        Maximum degree of the spherical harmonics.
    sigma_A:
        Width of the Gaussian smearing of each atom, Å.
    """

    r_cut_A: float = default("fingerprint.soap.r_cut_A")
    n_max: int = default("fingerprint.soap.n_max")
    l_max: int = default("fingerprint.soap.l_max")
    sigma_A: float = default("fingerprint.soap.sigma_A")

    def __post_init__(self) -> None:
        if self.r_cut_A < 1.0:
            raise FingerprintError(f"fingerprint.soap.r_cut_A = {self.r_cut_A} Å: must be ≥ 1 Å")
        if self.n_max < 1 or self.l_max < 0 or self.sigma_A <= 0:
            raise FingerprintError(f"invalid SOAP settings {self}")


@dataclass(frozen=True)
class FingerprintSettings:
    """Settings of the fingerprint stage (config key ``fingerprint``).

    Parameters
    ----------
    soap:
        SOAP descriptor settings.
    selection:
        ``"fps"`` (farthest-point sampling of the training set) or ``"random"``.
    validation_fraction:
        Fraction of each stratum's frames held out for validation (dimensionless).
    li_content_bins:
        Number of equal-width bins of Li content x ∈ [0, 1] used to stratify the split.
    """

    soap: SoapSettings = field(default_factory=SoapSettings)
    selection: str = default("fingerprint.selection")
    validation_fraction: float = default("fingerprint.validation_fraction")
    li_content_bins: int = default("fingerprint.li_content_bins")

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> FingerprintSettings:
        return cls(
            soap=SoapSettings(**cfg["soap"]),
            selection=cfg["selection"],
            validation_fraction=cfg["validation_fraction"],
            li_content_bins=cfg["li_content_bins"],
        )

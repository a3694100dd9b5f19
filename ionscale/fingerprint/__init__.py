"""Fingerprint stage: SOAP descriptors, farthest-point training-set selection, novelty.

Each atomic environment of every labelled frame is described by its smooth overlap of atomic
positions (SOAP) power spectrum [1]_, computed by dscribe [2]_ and normalised to unit length (so
that the Euclidean distance between two environments is a monotonic function of their SOAP
kernel, ``d² = 2 − 2k``). A frame is described by the mean environment of each species,
concatenated over species (zeros for a species the frame lacks).

The training set is chosen by farthest-point sampling (FPS) [3]_ in that frame space, so that
training frames span the sampled configurations rather than crowd where sampling was dense; the
remaining frames are the validation set. The split is stratified: every stratum (a config_type
and a bin of Li content x) with at least two frames has frames in both sets, and every stratum
has at least one training frame.

The novelty of a new atomic environment is its nearest-neighbour distance to the training
environments in units of their own spread (:mod:`ionscale.fingerprint.novelty`): the
descriptor-space counterpart of DP-GEN's force deviation [4]_.

References
----------
.. [1] A. P. Bartók, R. Kondor, G. Csányi, Phys. Rev. B 87, 184115 (2013).
.. [2] L. Himanen et al., Comput. Phys. Commun. 247, 106949 (2020) (dscribe).
.. [3] Y. Eldar et al., IEEE Trans. Image Process. 6, 1305 (1997); M. Ceriotti, G. A.
   Tribello, M. Parrinello, J. Chem. Theory Comput. 9, 1521 (2013) (FPS of atomistic data).
.. [4] Y. Zhang et al., Comput. Phys. Commun. 253, 107206 (2020) (DP-GEN).

Modules
-------
- :mod:`~ionscale.fingerprint.settings`: :class:`SoapSettings`, :class:`FingerprintSettings`,
  :class:`FingerprintError`.
- :mod:`~ionscale.fingerprint.descriptors`: SOAP environments and frame descriptors.
- :mod:`~ionscale.fingerprint.selection`: farthest-point sampling, strata, the split.
- :mod:`~ionscale.fingerprint.novelty`: :class:`NoveltyModel`.
- :mod:`~ionscale.fingerprint.io`: labelled.extxyz, split.json and descriptors.h5 contracts.
- :mod:`~ionscale.fingerprint.stage`: :func:`run_fingerprint`.
- :mod:`~ionscale.fingerprint.plots`: :func:`plot_map`.
"""

from ionscale.fingerprint.descriptors import pool_frames, soap_environments
from ionscale.fingerprint.io import (
    REQUIRED_INFO,
    check_split,
    read_labelled_frames,
    species_of,
    write_descriptors_h5,
)
from ionscale.fingerprint.novelty import DUPLICATE_DISTANCE, NoveltyModel
from ionscale.fingerprint.plots import plot_map
from ionscale.fingerprint.selection import Split, farthest_point_sampling, split_frames, strata
from ionscale.fingerprint.settings import (
    SPLIT_METHODS,
    FingerprintError,
    FingerprintSettings,
    SoapSettings,
)
from ionscale.fingerprint.stage import FingerprintResult, run_fingerprint

__all__ = [
    "DUPLICATE_DISTANCE",
    "REQUIRED_INFO",
    "SPLIT_METHODS",
    "FingerprintError",
    "FingerprintResult",
    "FingerprintSettings",
    "NoveltyModel",
    "SoapSettings",
    "Split",
    "check_split",
    "farthest_point_sampling",
    "plot_map",
    "pool_frames",
    "read_labelled_frames",
    "run_fingerprint",
    "soap_environments",
    "species_of",
    "split_frames",
    "strata",
    "write_descriptors_h5",
]

"""Potential stage: an ensemble of DeePMD-kit models (PyTorch backend) trained on the DFT data.

Deep Potential models [1]_ with the smooth-edition descriptor [2]_ by default (DPA variants by
name, see :mod:`ionscale.potential.settings`). The stage is split into the steps a workflow runs
as separate jobs:

- :func:`~ionscale.potential.data.prepare_data`: checks before training, dpdata conversion,
  ``dp neighbor-stat`` → ``sel``;
- :func:`~ionscale.potential.train.train_member`: one member (``dp train``, ``freeze``,
  ``compress``), one job each;
- :func:`~ionscale.potential.evaluate.evaluate_ensemble`: errors on the validation frames, the
  ensemble's model deviation, gates and plots.

References
----------
.. [1] L. Zhang et al., Phys. Rev. Lett. 120, 143001 (2018); H. Wang et al., Comput. Phys.
   Commun. 228, 178 (2018); J. Zeng et al., J. Chem. Phys. 159, 054801 (2023) (DeePMD-kit v2).
.. [2] L. Zhang et al., Adv. Neural Inf. Process. Syst. 31 (2018) (DeepPot-SE, ``se_e2_a``).
"""

from ionscale.potential.data import (
    NeighborStat,
    cell_heights_A,
    check_training_inputs,
    prepare_data,
)
from ionscale.potential.evaluate import (
    GateError,
    apply_gates,
    evaluate_ensemble,
    predict,
)
from ionscale.potential.settings import (
    DESCRIPTORS,
    PotentialError,
    PotentialSettings,
    descriptor_spec,
)
from ionscale.potential.train import (
    deepmd_input,
    member_seed,
    read_lcurve,
    sel_fits,
    train_member,
)

__all__ = [
    "DESCRIPTORS",
    "GateError",
    "NeighborStat",
    "PotentialError",
    "PotentialSettings",
    "apply_gates",
    "cell_heights_A",
    "check_training_inputs",
    "deepmd_input",
    "descriptor_spec",
    "evaluate_ensemble",
    "member_seed",
    "predict",
    "prepare_data",
    "read_lcurve",
    "sel_fits",
    "train_member",
]

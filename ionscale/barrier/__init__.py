"""Barrier stage: the mobile ion's vacancy-hop barrier by NEB, per ensemble member and in DFT.

The diffusion stage measures Ea from MD; this stage measures the barrier that Ea should be
close to, and checks that the potential knows it:

- **Hop cell** (:func:`hop_cell`): the reference structure repeated (``barrier.supercell``),
  one mobile ion removed; the hop is the most open near-neighbour hop of the sublattice into
  that vacancy, its initial path through the most open point of the hop's mid-plane
  (:func:`ionscale.reference.generators.hop_waypoint`; LiC6: through the empty hexagon beside
  the straight line, over two C–C bridges).
- **NEB per member** (:func:`neb_path`): the end points relaxed at fixed cell (BFGS), then a
  climbing-image NEB (Henkelman, Uberuaga, Jónsson, J. Chem. Phys. 113, 9901 (2000); ASE's
  improved-tangent NEB, FIRE) with each DeePMD member.
- **DFT on the path** (``barrier.dft_images``): single points with the reference calculator on
  member 0's converged images (the initial state and the climbing image, or all of them). The
  DFT barrier along that path is compared with member 0's on the same images.
- **Gate** (:mod:`ionscale.gates`): the members' spread and |DP − DFT| against their
  tolerances; a failed check stops the chain unless ``barrier.action`` is warn.

Results: ``barrier/barrier.json`` (every number, the tolerances, the verdict),
``barrier/path.extxyz`` (member 0's images with DP and DFT energies), ``barrier/barrier.png``.
"""

from ionscale.barrier.neb import (
    BarrierError,
    BarrierSettings,
    HopCell,
    NEBPath,
    hop_cell,
    neb_path,
)
from ionscale.barrier.stage import dft_on_path, judge, run_barrier

__all__ = [
    "BarrierError",
    "BarrierSettings",
    "HopCell",
    "NEBPath",
    "dft_on_path",
    "hop_cell",
    "judge",
    "neb_path",
    "run_barrier",
]

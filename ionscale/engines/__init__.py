"""Engine drivers shared by the stages; they sit below every stage and import none of them.

- :mod:`ionscale.engines.lammps`: LAMMPS with DeePMD-kit's ``pair_style deepmd`` (the md stage
  and active learning's exploration run it).
"""

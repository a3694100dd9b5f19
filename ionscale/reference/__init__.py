"""Reference stage: DFT reference data for the machine-learned potential.

The stage turns one host structure (default: graphite, Li_xC6) into labelled DFT frames:

- :mod:`~ionscale.reference.structures`: load a structure file or a named prototype, build
  supercells, find the mobile-ion (Li) sublattice, reject bad input before any DFT runs.
- :mod:`~ionscale.reference.sampling`: seeded, reproducible candidate frames (Li/vacancy
  orderings across the Li content range, rattled and strained copies, vacancy-hop images,
  close Li–Li contacts, optional short MD with a cheap potential, bcc Li metal and empty-host
  references), with near-duplicates removed; its settings, frame generators and duplicate
  removal are in :mod:`~ionscale.reference.sampling_settings`,
  :mod:`~ionscale.reference.generators` and :mod:`~ionscale.reference.duplicates`.
- :mod:`~ionscale.reference.calculators`: a registry of named ASE calculators (GPAW embedded;
  VASP, Quantum ESPRESSO, CP2K for clusters) built from one set of physical settings, with D3
  dispersion added through ``dftd3`` and ASE's ``SumCalculator``.
- :mod:`~ionscale.reference.labelling`: label a batch of frames; a frame whose SCF does not
  converge or whose calculator fails becomes a failure record, never a silent drop.
- :mod:`~ionscale.reference.importing`: import existing DFT data (VASP, QE, CP2K, extxyz, DeePMD
  npy) through dpdata or ase.io, with unit plausibility checks.
- :mod:`~ionscale.reference.checks`: per-frame sanity checks (net force, closest pair, energy
  per atom).
- :mod:`~ionscale.reference.plots`: the stage's summary figure.
- :mod:`~ionscale.reference.stage`: the workflow steps as file-in/file-out functions (plan at
  parse time, sample, label one batch, import, gather), called by ``scripts/reference_*.py``.

Frames carry, in ``atoms.info``: ``config_type``, ``source``, ``li_fraction`` (site fraction x of
the mobile species, NaN for the Li-metal reference) and a unique ``frame_id``; labels are an
ASE ``SinglePointCalculator`` with energy (eV, the force-consistent free energy), forces (eV/Å)
and stress (eV/Å³, ASE sign convention).
"""

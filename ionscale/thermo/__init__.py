"""thermo stage: a learned free energy of Li content, f(x, T), from atomistic energies.

The chain, one module each:

1. :mod:`~ionscale.thermo.structures`: the host's Li sublattice and the symmetry-distinct
   Li/vacancy orderings on it in small supercells (derivative structures of Hart & Forcade,
   Phys. Rev. B 77, 224115 (2008), enumerated by icet: Ångqvist et al., Adv. Theory Simul. 2,
   1900015 (2019)).
2. :mod:`~ionscale.thermo.atomistic`: relaxation and energies with the DeePMD potential through
   its ASE calculator; the ensemble's spread is the energies' uncertainty.
3. :mod:`~ionscale.thermo.hull`: formation energies per site against the empty host (the
   ``reference.host`` end member, e.g. AB graphite, else the empty lattice cell) and bcc Li
   metal, the convex hull (pymatgen) and the T = 0 voltage steps (Aydinol et al., Phys. Rev. B
   56, 1354 (1997)).
4. :mod:`~ionscale.thermo.cluster_expansion` and :mod:`~ionscale.thermo.montecarlo`: a cluster
   expansion of those energies (icet, cross-validated) and (variance-constrained)
   semi-grand-canonical Monte Carlo (mchammer; Sadigh & Erhart, Phys. Rev. B 86, 134204 (2012)),
   giving μ(x, T) with sampling errors.
5. :mod:`~ionscale.thermo.network`: the integrable neural network of Teichert, Natarajan,
   Van der Ven & Garikipati, Comput. Methods Appl. Mech. Eng. 353, 201 (2019): f(x) is a network
   trained so that ∂f/∂x fits the μ data, so f, μ and ∂²f/∂x² come exactly from autograd.
6. :mod:`~ionscale.thermo.analysis`: spinodal and two-phase regions, open-circuit voltage.

:mod:`~ionscale.thermo.dft` recomputes a handful of orderings with the reference stage's DFT
calculator; :mod:`~ionscale.thermo.host` gives the host's elastic constants, molar volume and
chemical strain for the handoff. The workflow's rules run them through
:mod:`~ionscale.thermo.energies` (orderings and hull, cluster expansion, DFT check) and
:mod:`~ionscale.thermo.free_energy` (Monte Carlo, free energy, OCV plot), with settings from
:mod:`~ionscale.thermo.settings` and the result files' layout in :mod:`~ionscale.thermo.io`;
:mod:`~ionscale.thermo.stage` keeps every one of those names importable in one place.
"""

"""Pythia 8 processes for the ten JetClass classes (13 TeV pp, Monash tune, MPI on).

The JetClass production (jet-universe/jetclass_generation) used MadGraph5 + Pythia 8 + Delphes:
QCD jets from Z(→νν)+jets, Higgs jets from ZH with Z→νν, top jets from tt̄, W jets from WZ and
Z jets from ZZ with the other boson decaying to neutrinos. Here the same final states are
expressed as Pythia 8 processes with forced decays, so the recoiling system is invisible and the
jet of interest is the hardest visible object.

Generator cuts: ``PhaseSpace:pTHatMin/Max`` bracket the kept jet window 500 < pT < 1000 GeV. The
lower edge sits slightly *below* 500 GeV because a jet carries less pT than its parent parton
(out-of-cone radiation, neutrinos), so a cut at 500 would sculpt the falling spectrum near the
threshold; the upper edge trims events that could only give jets above 1000 GeV.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MindgapError
from ..jetclass.schema import CLASSES

__all__ = ["Process", "PROCESSES", "CALIBRATION_PROCESSES", "UnknownProcessError", "get_process", "COMMON_SETTINGS", "TRUTH_CODES"]

# Generator-level settings shared by every class. Particles with c*tau0 > 10 mm (K0S, Lambda, Sigma,
# Xi, Omega, charged pions/kaons) are left undecayed, as in CMS generator-level conventions; B and
# D hadrons, taus etc. decay inside Pythia with their real lifetimes, so their daughters carry
# displaced production vertices (vProd, mm) from which the detector computes impact parameters.
# Known gap to JetClass: its V0s (K0S, Lambda) decay in the tracker, giving d0 tails out to a
# metre; here they reach the calorimeter undecayed (chapter 01 says so). Pythia's
# ``ParticleDecays:limitCylinder`` would add them; it also makes light-jet tracks displaced, which
# the tests' b-vs-light separation would need to account for.
COMMON_SETTINGS: tuple[str, ...] = (
    "Beams:eCM = 13000.",
    "Tune:pp = 14",                     # Monash 2013
    "PartonLevel:MPI = on",
    "HadronLevel:all = on",
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10.",     # mm
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Print:quiet = on",
)

_Z_TO_NUNU = ("WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 12 14 16")
_W_TO_QQ = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
_W_TO_LNU = ("24:onMode = off", "24:onIfAny = 11 13")
_ZH = ("HiggsSM:ffbar2HZ = on", "25:onMode = off", *_Z_TO_NUNU)
_TTBAR = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on")

# makeNtuples.C FatJetMatching codes (stored as aux_truth_match) that make a jet signal, per class.
TRUTH_CODES: dict[str, tuple[int, ...]] = {
    "QCD": (50,), "Hbb": (41,), "Hcc": (42,), "Hgg": (44,), "H4q": (45,), "Hqql": (46,),
    "Zqq": (31, 32, 33), "Wqq": (21, 22), "Tbqq": (11, 12), "Tbl": (15, 16),
}


class UnknownProcessError(MindgapError, ValueError):
    """A process name that is not one of the ten JetClass classes."""


@dataclass(frozen=True)
class Process:
    """One JetClass class as a Pythia 8 configuration.

    Attributes:
        name: the JetClass class name (``schema.CLASSES``).
        description: the physics in words.
        settings: Pythia ``readString`` lines for the hard process and forced decays.
        pt_hat: (pTHatMin, pTHatMax) in GeV.
        resonance: |PDG id| of the particle whose decay products must lie in the jet
            (0 for QCD: every jet in the window is kept).
        variants: alternative extra settings cycled batch by batch (charge-conjugate decay modes
            that Pythia cannot mix in one instance); empty when there is only one configuration.
        label: the JetClass class whose truth codes and label the jets get (defaults to `name`;
            calibration processes are named for their physics and labelled as their class).
    """

    name: str
    description: str
    settings: tuple[str, ...]
    pt_hat: tuple[float, float]
    resonance: int = 0
    variants: tuple[tuple[str, ...], ...] = ()
    label: str = ""

    @property
    def cls(self) -> str:
        """The JetClass class of the jets (file names ``<cls>_NNNN.root``, truth codes, labels)."""
        return self.label or self.name

    @property
    def codes(self) -> tuple[int, ...]:
        return TRUTH_CODES[self.cls]

    def pythia_settings(self, variant: int = 0) -> list[str]:
        """Process lines plus the cuts and the `variant`-th decay configuration."""
        extra = self.variants[variant % len(self.variants)] if self.variants else ()
        return [*self.settings, *extra,
                f"PhaseSpace:pTHatMin = {self.pt_hat[0]:g}", f"PhaseSpace:pTHatMax = {self.pt_hat[1]:g}"]

    @property
    def n_variants(self) -> int:
        return max(1, len(self.variants))


def _higgs(name: str, what: str, decay: tuple[str, ...], variants=()) -> Process:
    return Process(name, f"ZH, Z→νν, {what}", (*_ZH, *decay), (470.0, 1100.0), 25, variants)


PROCESSES: dict[str, Process] = {p.name: p for p in (
    Process("QCD", "Z(→νν) + jet: qq̄→Zg, qg→Zq", ("WeakBosonAndParton:qqbar2gmZg = on",
            "WeakBosonAndParton:qg2gmZq = on", *_Z_TO_NUNU), (470.0, 1100.0), 0),
    _higgs("Hbb", "H→bb̄", ("25:onIfMatch = 5 -5",)),
    _higgs("Hcc", "H→cc̄", ("25:onIfMatch = 4 -4",)),
    _higgs("Hgg", "H→gg", ("25:onIfMatch = 21 21",)),
    _higgs("H4q", "H→WW*→4q", ("25:onIfMatch = 24 -24", *_W_TO_QQ)),
    # One W hadronic, the other to e/μ: Pythia forces per charge, so the two charge assignments
    # alternate batch by batch (equal numbers of ℓ+ and ℓ- jets).
    _higgs("Hqql", "H→WW*→ℓνqq′ (ℓ = e, μ)", ("25:onIfMatch = 24 -24", "24:onMode = off"), (
        ("24:onPosIfAny = 1 2 3 4 5", "24:onNegIfAny = 11 13"),
        ("24:onPosIfAny = 11 13", "24:onNegIfAny = 1 2 3 4 5"))),
    Process("Zqq", "ZZ, Z→qq̄ (the other Z→νν or qq̄)", ("WeakDoubleBoson:ffbar2gmZgmZ = on",
            "WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 1 2 3 4 5 12 14 16"), (470.0, 1100.0), 23),
    Process("Wqq", "WZ, W→qq′, Z→νν", ("WeakDoubleBoson:ffbar2ZW = on", *_Z_TO_NUNU, *_W_TO_QQ),
            (470.0, 1100.0), 24),
    Process("Tbqq", "tt̄, t→bW(→qq′)", (*_TTBAR, *_W_TO_QQ), (470.0, 1100.0), 6),
    Process("Tbl", "tt̄, t→bW(→ℓν), ℓ = e, μ", (*_TTBAR, *_W_TO_LNU), (470.0, 1100.0), 6),
)}
assert tuple(PROCESSES) == CLASSES

# Calibration samples (not tagger classes): the paper's section 3 calibrates on "QCD multijet
# processes simulated with Pythia". All 2 -> 2 QCD processes; both jets of a dijet event may be
# kept. The pT-hat window is chosen with the dijet's jets in mind: a jet carries a little less than
# pT-hat, so the lower edge sits just below the 500 GeV jet cut (few events thrown away, little
# sculpting of the spectrum above it).
CALIBRATION_PROCESSES: dict[str, Process] = {p.name: p for p in (
    Process("QCD_multijet", "QCD multijet (Pythia HardQCD:all): gg, qg, qq 2 -> 2", ("HardQCD:all = on",),
            (470.0, 1000.0), 0, label="QCD"),
)}


def get_process(name: str | Process) -> Process:
    """The :class:`Process` for a JetClass class or calibration process name; unknown names list the known ones."""
    if isinstance(name, Process):
        return name
    try:
        return PROCESSES[name] if name in PROCESSES else CALIBRATION_PROCESSES[name]
    except (KeyError, TypeError):
        known = ", ".join([*CLASSES, *CALIBRATION_PROCESSES])
        raise UnknownProcessError(f"unknown process {name!r} (known: {known})") from None

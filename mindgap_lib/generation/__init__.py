"""Jets from Pythia 8 + fastjet + a parametric CMS-like detector, written as JetClass files.

processes (what Pythia generates) → variations (generator and detector knobs) → truth/detector
(particles the detector sees) → jets (clustering, features) → generate (one shard) → dataset
(a profile's shards, in parallel).
"""

"""Small infrastructure shared by every layer: atomic writes, locks, code fingerprints, seeds,
typed config sections, the learning-rate schedule, torch's device and threads, versions."""

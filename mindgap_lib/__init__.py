"""mindgap: reproduce "Mind the Gap: Navigating Inference with Optimal Transport Maps" end to end.

The package follows the pipeline: :mod:`.generation` (Pythia 8 + fastjet + detector) writes
:mod:`.jetclass` files; :mod:`.tagger` trains the transformer and extracts its latents;
:mod:`.transport` fits the optimal-transport map; :mod:`.evaluate` judges the calibration;
:mod:`.build` caches the stages and builds the book; :mod:`.plots` draws the chapters' figures.
"""

from .config import Profile, load_profile
from .errors import MindgapError, ProfileError

__all__ = ["MindgapError", "Profile", "ProfileError", "load_profile"]
__version__ = "0.2.0"

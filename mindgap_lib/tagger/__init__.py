"""The jet tagger: features, the class-token transformer, its training and its latents."""

from .checkpoint import TaggerError, load, save_tagger
from .features import FeatureError, Features, load_features
from .latents import extract_latents, latent_file
from .metrics import tagging_metrics
from .model import Tagger, TaggerConfig
from .train import TrainConfig, predict, tagger_config, train_tagger

__all__ = [
    "FeatureError", "Features", "Tagger", "TaggerConfig", "TaggerError", "TrainConfig", "extract_latents",
    "latent_file", "load", "load_features", "predict", "save_tagger", "tagger_config", "tagging_metrics",
    "train_tagger",
]

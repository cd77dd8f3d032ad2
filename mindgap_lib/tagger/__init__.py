"""The jet tagger: features and their input transform, the class-token transformer, training, latents."""

from ..util.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    ".checkpoint": ("TaggerError", "load", "save_tagger"),
    ".config": ("TaggerConfig", "TaggerSection", "TrainConfig"),
    ".features": ("FeatureError", "Features", "InputTransform", "fit_input_transform", "load_features"),
    ".latents": ("LATENT_KEYS", "Layers", "extract_latents", "latent_file", "layers_of"),
    ".metrics": ("tagging_metrics",),
    ".model": ("Tagger", "Head"),
    ".train": ("predict", "train_tagger"),
})

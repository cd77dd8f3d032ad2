"""The jet tagger: features and their input transform, the class-token transformer, training, latents."""

from ..util.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    ".checkpoint": ("load", "save_tagger"),
    ".config": ("Layers", "TaggerConfig", "TaggerError", "TaggerSection", "TrainConfig", "layers_of"),
    ".features": ("FeatureError", "Features", "InputTransform", "fit_input_transform", "load_features"),
    ".latents": ("LATENT_KEYS", "extract_latents", "latent_file", "latents_of_files"),
    ".metrics": ("tagging_metrics",),
    ".model": ("Tagger", "Head"),
    ".train": ("predict", "train_tagger"),
})

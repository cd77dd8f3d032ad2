"""Every other way to calibrate (issue #16): one interface, the same jets, splits and judges."""

from ...util.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    ".base": ("Calibration", "MethodContext"),
    ".compare": ("METHODS", "available_methods", "compare_methods", "judge", "run_methods", "weighted_auc"),
    ".maps": ("bures", "discrete_ot_map", "emd", "flows4flows", "icnn", "identity", "output_icnn"),
    ".reweight": ("classifier_weights", "gb_available", "gb_weights"),
})

"""Chapter 06's study end to end at toy size: every section, the saved maps and the artifact."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mindgap_lib.artifacts import BeyondArtifact
from mindgap_lib.config import load_profile
from mindgap_lib.evaluate.beyond import beyond_study, save_study
from mindgap_lib.evaluate.beyond_config import BeyondConfig
from mindgap_lib.evaluate.beyond_live import live_llr
from mindgap_lib.util.sections import hashed
from mindgap_lib.evaluate.calibrated import head_from
from mindgap_lib.splits import SplitConfig
from mindgap_lib.tagger import Tagger, TaggerConfig
from mindgap_lib.transport.config import transport_config
from mindgap_lib.transport.linear import fit_linear


def _latents(model, n: int, strength: float, seed: int) -> dict[str, np.ndarray]:
    """Toy latents whose shift grows with the jet pT (as the d0 smearing does)."""
    rng = np.random.default_rng(seed)
    pt = np.minimum(500 * (1 + rng.exponential(0.3, n)), 1000).astype(np.float32)
    eta = rng.uniform(-2, 2, n).astype(np.float32)
    z = rng.normal(size=(n, 16)).astype(np.float32)
    z[:, :2] += strength * (pt[:, None] - 450) / 300
    return {"z16": z, **head_from(model, z, "z16"), "jet_pt": pt, "jet_eta": eta}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    torch.manual_seed(0)
    model = Tagger(TaggerConfig(num_particles=8, dim=8, num_layers=1, num_heads=2, head_layers=3, head_width=16)).eval()
    latents = {"nominal": _latents(model, 600, 0.0, 0), "target": _latents(model, 600, 1.0, 1),
               "ip_only": _latents(model, 600, 0.6, 2)}
    values = hashed(load_profile("tiny").beyond) | {"workers": 1, "variations": ["ip_only", "scale_only"], "workers": 1, "pt_bins": 2,
                                    "auc_layers": ["z"], "bootstrap": 3, "bootstrap_steps": 20,
                                    "conditional_steps": 40, "tilted_steps": 30, "variation_steps": 30, "tilt": 1.0}
    values["methods"] = values["methods"] | {"names": ["identity", "icnn", "bures", "classifier_weights"]}
    values["methods"]["flows"] = values["methods"]["flows"] | {"threads": 1}
    values["discriminator"] = values["discriminator"] | {"epochs": 4, "threads": 1}
    cfg = BeyondConfig.from_mapping(values)
    transport = transport_config("tiny", steps=30, val_every=10)
    umap = fit_linear(latents["nominal"]["z16"], latents["target"]["z16"])
    out, maps = beyond_study(model, latents, umap, cfg, transport, SplitConfig(), seed=0)
    folder = tmp_path_factory.mktemp("beyond")
    save_study(folder, out, maps)
    return model, latents, out, BeyondArtifact(folder)


def test_study_sections_and_shapes(study):
    _, _, out, _ = study
    assert set(out) == {"conditional", "tilted", "systematics", "methods", "info"}
    for key in ("conditional", "tilted"):
        bins = out[key]["bins"]
        assert len(bins) == 2 and set(bins[0]["samples"]) == {"identity", "unconditional", "conditional"}
        assert all(0 <= s["auc"]["z16"]["value"] <= 1 for b in bins for s in b["samples"].values())
    assert out["tilted"]["mean_pt_target"] > out["tilted"]["mean_pt_source"]   # the tilt hardened the target
    assert out["systematics"]["variations"] == ["ip_only"]                     # scale_only has no latents here
    assert len(out["systematics"]["scale_factors"]) == 3 and out["systematics"]["bootstrap"] == 3
    assert set(out["methods"]["table"]) == {"identity", "icnn", "bures", "classifier_weights"}


def test_saved_maps_and_live_control(study):
    model, latents, out, art = study
    assert art.study()["methods"]["table"].keys() == out["methods"]["table"].keys()
    assert set(art.map_names()) == {"conditional", "tilted_conditional", "tilted_unconditional", "variation-ip_only",
                                    "bootstrap-0", "bootstrap-1", "bootstrap-2"}
    assert type(art.map("conditional")).__name__ == "ConditionalMap"
    assert art.metrics()["methods"] == out["methods"]["table"]
    h = live_llr(model, latents["nominal"], latents["ip_only"], SplitConfig(), "ip_only", bins=10)
    assert h["map"].startswith("linear") and len(h["edges"]) == 11 and np.isclose((h["calibrated"] * np.diff(h["edges"])).sum(), 1)


def test_tilt_and_conditions():
    from mindgap_lib.evaluate.binned import bin_edges, bin_index, conditions_of, tilt_rows
    from mindgap_lib.evaluate.config import EvaluateError

    pt = np.linspace(500, 1000, 4001)
    kept = tilt_rows(pt, np.arange(4001), 2.0, seed=0)
    assert pt[kept].mean() > pt.mean() + 20 and len(np.unique(kept)) == len(kept)   # harder, no duplicates
    assert len(tilt_rows(pt, np.arange(4001), 0.0, seed=0)) == 4001
    edges = bin_edges(pt, 4)
    assert np.isinf(edges[[0, -1]]).all() and np.bincount(bin_index(pt, edges)).min() >= 999
    c = conditions_of({"jet_pt": pt, "jet_eta": pt * 0}, ("jet_pt", "jet_eta"), ("jet_pt",))
    assert c.shape == (4001, 2) and np.isclose(c[0, 0], np.log(500))
    with pytest.raises(EvaluateError, match="jet_phi"):
        conditions_of({"jet_pt": pt}, ("jet_phi",))


def test_show_in_replaces_the_live_figure_by_widget_state():
    """The live widgets' figure goes into the Output widget's state (no capture of the kernel's output,
    on which a papermill run of chapter 06 hung twice); each redraw replaces the last one."""
    import ipywidgets as widgets
    import plotly.graph_objects as go
    from mindgap_lib.plots.style import show_in

    out = widgets.Output()
    show_in(out, go.Figure(go.Scatter(x=[1, 2], y=[3, 4])))
    show_in(out, go.Figure(go.Scatter(x=[1, 2], y=[5, 6])))
    (only,) = out.outputs
    assert only["output_type"] == "display_data"
    assert only["data"]["application/vnd.plotly.v1+json"]["data"][0]["y"] == [5, 6]
    html = only["data"]["text/html"]
    assert "Plotly.newPlot" in html and "<script src=" not in html   # draws with the page's plotly.js, fetches nothing

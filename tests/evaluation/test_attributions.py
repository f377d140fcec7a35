"""Integrated gradients on a real Keras model: attributions add up to the change of the output."""

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")


def test_integrated_gradients_are_complete_and_rank_the_feature_that_matters():
    from keras import layers

    from integrity_risk.evaluation.attributions import integrated_gradients

    inputs = {n: keras.Input(shape=(1,), name=n) for n in ("a", "b", "noise")}
    inputs["country"] = keras.Input(shape=(1,), name="country", dtype="string")
    emb = layers.Reshape((2,))(layers.Embedding(3, 2)(layers.StringLookup(vocabulary=["DE", "US"])(inputs["country"])))
    x = layers.Concatenate()([inputs["a"], inputs["b"], inputs["noise"], emb])
    dense = layers.Dense(1, activation="sigmoid", name="fraud")
    model = keras.Model(inputs=inputs, outputs={"fraud": dense(x)})
    dense.set_weights([np.array([[3.0], [0.5], [0.0], [0.1], [0.1]], "float32"), np.zeros(1, "float32")])
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=300),
            "b": rng.normal(size=300),
            "noise": rng.normal(size=300),
            "country": rng.choice(["DE", "US", None], size=300),
        }
    )
    frame.loc[:5, "b"] = np.nan  # missing values are held, not attributed
    out = integrated_gradients(model, frame, output="fraud", steps=64, max_rows=200)
    assert out["features"][0] == "a" and out["features"][-1] == "noise"
    assert out["mean_abs"][-1] == pytest.approx(0.0, abs=1e-6)
    assert out["completeness_gap"] < 5e-3
    assert out["rows"] == 200


def test_an_unknown_output_is_named():
    from integrity_risk.evaluation.attributions import integrated_gradients

    inp = keras.Input(shape=(1,), name="a")
    model = keras.Model(inputs={"a": inp}, outputs={"fraud": keras.layers.Dense(1)(inp)})
    with pytest.raises(ValueError, match="no output 'scraping'"):
        integrated_gradients(model, pd.DataFrame({"a": [1.0, 2.0]}), output="scraping")


def test_integrated_gradients_work_on_the_trainers_model_with_missing_values_and_strings():
    from integrity_local.training_data import FEATURES, TASKS, make_frame
    from integrity_risk.config.model import resolve_config
    from integrity_risk.evaluation.attributions import integrated_gradients
    from integrity_risk.training.data import FeatureSpec
    from integrity_risk.training.model import build_model

    frame = make_frame(400, seed=1)
    numeric = [f for f in FEATURES if f != "account_daily__country"]
    spec = FeatureSpec(
        numeric=numeric,
        log=["account_daily__device_shared_count"],
        categorical=["account_daily__country"],
        labels={t: f"label_{t}" for t in TASKS},
    )
    model = build_model(resolve_config({"tasks": list(TASKS), "hidden_units": [8]}, TASKS[0]), spec, frame)
    out = integrated_gradients(model, frame, output="abusive_account", steps=48, max_rows=100)
    assert sorted(out["features"]) == sorted(numeric)  # the string input gets no attribution
    assert all(np.isfinite(out["mean_abs"]))
    assert out["completeness_gap"] < 1e-2

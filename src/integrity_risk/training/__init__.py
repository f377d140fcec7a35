"""TensorFlow trainer of the integrity risk models, run as its own process.

``python -m integrity_risk.training.train --training-set DIR --risk-type RISK --config FILE``;
see :mod:`integrity_risk.training.train`. Scoring of registered models: :mod:`integrity_risk.training.scoring`.
"""

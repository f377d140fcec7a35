"""TensorFlow trainer of the integrity risk models, run as its own process.

``python -m training.train --training-set DIR --risk-type RISK --config FILE``;
see :mod:`training.train`. Scoring of registered models: :mod:`training.scoring`.
"""

"""Deployment: every policy as one ONNX graph plus metadata, and purchase orders from it.

Export (imports onnx; torch only for a trained model):

- :mod:`agents.deploy.graphs`: classic rules and the DP table as ONNX graphs (``onnx.helper``).
- :mod:`agents.deploy.torch_export`: a stable-baselines3 model as an ONNX graph (torch).
- :mod:`agents.deploy.export`: the checked export of a policy directory, and reading one back
  with its scenario.

Recommend (numpy, pandas, json and onnxruntime only: what ``recommend.py`` imports):

- :mod:`agents.deploy.runtime`: a policy directory run by onnxruntime.
- :mod:`agents.deploy.state`: the state file, read and checked row by row.
- :mod:`agents.deploy.explain`: Shapley attributions against the typical state, in words.
- :mod:`agents.deploy.orders`: the order lines, and writing them.

Nothing is imported here, so that importing the recommend path does not import the export path.
"""

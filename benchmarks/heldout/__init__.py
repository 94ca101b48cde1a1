"""The held-out benchmark of issue 14: does the default recipe learn well on systems it has never seen?

    python -m benchmarks.heldout generate              # rewrite the instance files from their seeds
    python -m benchmarks.heldout references            # DP optimum and tuned classic policies of every instance
    nice -n 10 python -m benchmarks.heldout run --algo ppo [--instance heldout_03 ...]   # train + evaluate, resumes
    python -m benchmarks.heldout table                 # rewrite heldout_agents.md from heldout_agents.json

- :mod:`benchmarks.heldout.instances`: the seeded draw of the held-out and training instances
  (scenario YAML files under ``scenarios/``).
- :mod:`benchmarks.heldout.references`: their references, by evaluate.py
  (benchmarks/results/heldout_references.md).
- :mod:`benchmarks.heldout.recipe`: train.py's default recipe on every held-out instance, judged by
  evaluate.py on unseen demand (benchmarks/results/heldout_agents.md).
"""

# The two commands of the README. Both install the project first (a no-op once installed).
PYTHON ?= python3

.PHONY: install run test

install:
	$(PYTHON) -m pip install --quiet -e ".[dev]"

# The main job: a short PPO run on the default scenario, then the comparison with every classic
# policy and the optimum on the same demand. runs/demo and results/demo are replaced each time.
SCENARIO ?= lost_sales_L2_p9
run: install
	rm -rf runs/demo results/demo
	$(PYTHON) train.py --algo ppo --scenario $(SCENARIO) --timesteps 300000 --seed 0 --run-dir runs/demo
	$(PYTHON) evaluate.py --scenario $(SCENARIO) --episodes 1000 --out results/demo \
		--policy eoq --policy s_S --policy base_stock --policy capped_base_stock --policy optimal \
		--policy runs/demo/$(SCENARIO)_ppo_seed0

test: install
	$(PYTHON) -m pytest -n 2 -q


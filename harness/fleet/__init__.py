"""Fan seeds and submissions out over many nodes and bring their records back as one.

plan.py writes one task per (submission, seed), skypilot.py renders and checks SkyPilot
task files, slurm.py submits a plan as sbatch job arrays, store.py finds what finished,
merge.py turns per-seed records into one multi-seed record.
"""

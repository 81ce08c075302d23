"""`unlearn sweep`: an experiment grid as one resumable command (grid files, their expansion into
a DAG of step nodes, and the executors that run the nodes — this machine, Ray, Slurm)."""

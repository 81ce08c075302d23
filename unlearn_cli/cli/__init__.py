"""The command-line layer: one module per subcommand, wired together in `app.py`.

Importing it chooses OpenMP's wait policy (train/threads.py) before any subcommand imports
torch, since libgomp reads it once, when torch loads.
"""

from unlearn_cli.train.threads import configure_openmp

configure_openmp()

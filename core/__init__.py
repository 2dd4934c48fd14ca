"""The studio's engine: no Qt here (see the import contracts in pyproject.toml)."""

import os

# numpy's OpenBLAS: one thread. Its idle workers spin while they wait for work, so on a
# loaded 2-core machine a second BLAS thread turned a speaker's 0.17 s adaptation fit into
# 9 s; the studio's matrices are small, and a second thread never paid for itself. It must
# be set before numpy is first imported (the command line and the window import core
# first; the spawned workers inherit it); a value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

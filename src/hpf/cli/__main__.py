"""``python -m hpf.cli``: the ``hpf`` command."""

from hpf.cli import main

main()

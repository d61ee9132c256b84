"""``python -m hpf.cli``: the ``hpf`` command."""

from hpf.cli import main

if __name__ == "__main__":
    main()

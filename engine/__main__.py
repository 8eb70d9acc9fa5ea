"""``python -m gpu_advisor``: the same command as ``gpu-advisor`` (where no script is installed)."""

from gpu_advisor.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())

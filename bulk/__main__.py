"""python -m bulk: see bulk.dask_clean."""

import sys


def run() -> int:
    try:
        from bulk.dask_clean import main
    except ModuleNotFoundError as exc:  # the server's image has no Dask
        print(f"error: {exc.name} is not installed; bulk cleaning needs the batch extra: "
              "pip install 'declutter[batch]'", file=sys.stderr)
        return 2
    return main()


if __name__ == "__main__":
    sys.exit(run())

"""Bulk cleaning of large corpora on a Dask cluster.

    python -m bulk corpus/*.jsonl --out cleaned/ --workers 4

The classifier is used as a library inside the Dask workers: each worker
process loads the model once and cleans whole partitions of the input
(`bulk.dask_clean`). Reading and checking documents (`bulk.records`) and the
JSON Lines and Parquet files (`bulk.partitions`) do not need Dask. Needs the
`batch` extra: pip install 'declutter[batch]'.
"""

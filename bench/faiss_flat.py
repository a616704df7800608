#!/usr/bin/python3
"""FAISS IndexFlatIP baseline for bench/search_bench: exact top-k over the same vectors.

    faiss_flat.py BASE.npy QUERIES.npy K THREADS SINGLES IDS_OUT.npy

Prints one JSON object: add time, batched QPS (all queries in one search call), mean latency of
SINGLES one-query calls. Writes the batched result ids to IDS_OUT.npy as float32 (exact below
2^24) so the caller can compare them with its own. Run with Debian's /usr/bin/python3
(python3-faiss, python3-numpy).
"""
import json
import sys
import time

import faiss
import numpy as np


def main():
    base_path, query_path, k, threads, singles, ids_path = sys.argv[1:7]
    k, threads, singles = int(k), int(threads), int(singles)
    faiss.omp_set_num_threads(threads)
    base = np.ascontiguousarray(np.load(base_path), dtype=np.float32)
    queries = np.ascontiguousarray(np.load(query_path), dtype=np.float32)
    index = faiss.IndexFlatIP(base.shape[1])
    start = time.perf_counter()
    index.add(base)
    add_s = time.perf_counter() - start
    index.search(queries[: min(8, len(queries))], k)  # warm-up
    start = time.perf_counter()
    _, ids = index.search(queries, k)
    batch_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(singles):
        index.search(queries[i : i + 1], k)
    single_s = (time.perf_counter() - start) / max(singles, 1)
    np.save(ids_path, ids.astype(np.float32))
    print(json.dumps({
        "faiss_version": faiss.__version__,
        "add_s": add_s,
        "batch_qps": len(queries) / batch_s,
        "single_query_ms": 1000 * single_s,
        "threads": threads,
    }))


if __name__ == "__main__":
    main()
